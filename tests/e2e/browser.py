"""A real browser for the dashboard's tests: Debian's ``chromium`` (installed with apt when
missing, as ``pebble.py`` does for Pebble), driven by Playwright for Python through
``executable_path``, so Playwright never downloads a browser of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Screenshots of each page (gitignored): listed in the closing notes of the dashboard work.
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"


def ensure_chromium() -> str | None:
    """Install Debian's chromium when missing; None when it is there, else why not."""
    if Path(CHROMIUM).exists():
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium is not installed and there is no apt-get to install it"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "-qq", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run([*sudo, apt, "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return f"chromium can't be installed with apt-get: {done.stderr.strip()[-300:]}"
    if not Path(CHROMIUM).exists():
        return f"the chromium package has no {CHROMIUM}"
    return None


def launch_args() -> list[str]:
    # Chromium refuses to start its own sandbox as root (the suite runs as root).
    return ["--no-sandbox"] if os.geteuid() == 0 else []
