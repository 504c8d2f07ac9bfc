"""The environment CLI unit tests run in: an empty HOME, no system git config, a fake
token, and no COVE_* or tool settings leaking in from the developer's shell."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolate_cli(monkeypatch: pytest.MonkeyPatch, home: Path, cwd: Path | None = None) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(home))
    monkeypatch.setenv("COVE_API_KEY", "tok")
    for name in ("COVE_APP", "COVE_API_URL", "PGPASSWORD", "REDISCLI_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(cwd or home)
