"""A real browser for the dashboard's tests: Debian's ``chromium`` (installed with apt when
missing, as ``pebble.py`` does for Pebble), driven by Playwright for Python through
``executable_path``, so Playwright never downloads a browser of its own."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.system_packages import apt_install

CHROMIUM = "/usr/bin/chromium"
# Screenshots of each page (gitignored): listed in the closing notes of the dashboard work.
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"


def ensure_chromium() -> str | None:
    """Install Debian's chromium when missing; None when it is there, else why not."""
    if Path(CHROMIUM).exists():
        return None
    problem = apt_install("chromium")
    if problem is not None:
        return problem
    if not Path(CHROMIUM).exists():
        return f"the chromium package has no {CHROMIUM}"
    return None


def launch_args() -> list[str]:
    # Chromium refuses to start its own sandbox as root (the suite runs as root).
    return ["--no-sandbox"] if os.geteuid() == 0 else []
