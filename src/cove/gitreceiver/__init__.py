"""The git endpoint and its pre-receive hook.

Exports are loaded lazily: the hook runs as ``python -m cove.gitreceiver.hook`` on every
push, and importing the HTTP side (FastAPI, the store) would add most of a second to it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ensure_repo", "remove_repo", "router"]


def __getattr__(name: str) -> Any:
    if name == "router":
        from cove.gitreceiver.http_backend import router

        return router
    if name in ("ensure_repo", "remove_repo"):
        from cove.gitreceiver import repos

        return getattr(repos, name)
    raise AttributeError(name)
