"""Questions about what's installed in the app's virtualenv, answered from the filesystem
(no interpreter start-up, so it's cheap enough for bin/release)."""

from __future__ import annotations

import glob
import os


def site_packages(venv: str) -> list[str]:
    return sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages")))


def has_module(venv: str, name: str) -> bool:
    """Is top-level module/package `name` installed in the venv?"""
    return any(
        os.path.isfile(os.path.join(sp, name, "__init__.py"))
        or os.path.isfile(os.path.join(sp, f"{name}.py"))
        for sp in site_packages(venv)
    )
