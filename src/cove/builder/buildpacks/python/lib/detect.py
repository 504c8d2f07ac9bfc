"""bin/detect BUILD_DIR: print "Python" and exit 0 if the app looks like a Python app."""

from __future__ import annotations

import os
import stat
import sys

# Same signals as Heroku's Python buildpack, including common misspellings of
# requirements.txt (so that compile can then explain what's wrong instead of "no buildpack").
DETECT_FILES = (
    ".python-version",
    "__init__.py",
    "app.py",
    "main.py",
    "manage.py",
    "pdm.lock",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "pyproject.toml",
    "requirements.txt",
    "runtime.txt",
    "server.py",
    "setup.cfg",
    "setup.py",
    "uv.lock",
    "requeriments.txt",
    "requirement.txt",
    "requirements",
    "requirements.text",
    "Requirements.txt",
    "requirements.txt.txt",
    "requirments.txt",
)
DETECT_DIRS = ("__pycache__", ".venv", "venv")


def is_python_app(build_dir: str) -> bool:
    return any(os.path.isfile(os.path.join(build_dir, name)) for name in DETECT_FILES) or any(
        os.path.isdir(os.path.join(build_dir, name)) for name in DETECT_DIRS
    )


def decided_without_links(build_dir: str) -> bool | None:
    """is_python_app's answer from the names alone, for a caller that must not follow the
    app's symlinks (Cove's server, which has more rights than the app): None when one of
    the names is a symlink, so only a sandboxed bin/detect can tell."""
    found = False
    for names, is_kind in ((DETECT_FILES, stat.S_ISREG), (DETECT_DIRS, stat.S_ISDIR)):
        for name in names:
            try:
                mode = os.lstat(os.path.join(build_dir, name)).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                return None
            found = found or is_kind(mode)
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: bin/detect BUILD_DIR", file=sys.stderr)
        return 2
    if is_python_app(argv[0]):
        print("Python")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
