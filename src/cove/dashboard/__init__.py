"""The web dashboard: server-rendered pages over the same services as the API, served by
`cove server` on the API's HTTPS listener under ``/dashboard`` (see docs/dashboard.md)."""

from __future__ import annotations

from cove.dashboard.app import PREFIX, create_dashboard

__all__ = ["PREFIX", "create_dashboard"]
