"""Cache the app's virtualenv in CACHE_DIR and reuse it when nothing relevant changed.

Layout in CACHE_DIR:
  python-venv/        copy of BUILD_DIR/.heroku/python after the last successful install
  python-cache.json   what that copy was built from (see `metadata`)
  uv/                 uv's own download/build cache (makes cache misses fast too)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess

VENV_DIR = "python-venv"
META_FILE = "python-cache.json"
# Asks Cove to take BUILD_DIR/.heroku/python itself as the cached venv after the build (a
# rename, see cove.builder.layers) instead of the buildpack copying it here.
TAKE_MARKER = "python-venv.take"
FORMAT = 1  # bump when the cached layout changes

# Files whose contents decide which packages get installed, per package manager.
DEPENDENCY_FILES = {
    "pip": ("requirements.txt",),
    "pipenv": ("Pipfile.lock",),
    "poetry": ("poetry.lock", "pyproject.toml"),
    "uv": ("uv.lock", "pyproject.toml"),
    "project": ("pyproject.toml", "setup.py", "setup.cfg"),
}
_INCLUDE_RE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")
_LOCAL_RE = re.compile(r"^(?:-e|--editable)\b|^(?:\.|/|file:)|@\s*file:")


def _requirement_files(path: str, seen: list[str]) -> None:
    """`path` plus the files it includes with -r/-c, recursively (missing ones skipped)."""
    if path in seen or not os.path.isfile(path):
        return
    seen.append(path)
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = _INCLUDE_RE.match(line.strip())
            if match:
                _requirement_files(os.path.join(os.path.dirname(path), match.group(1)), seen)


def dependency_files(build_dir: str, package_manager: str) -> list[str]:
    paths: list[str] = []
    for name in DEPENDENCY_FILES[package_manager]:
        if package_manager == "pip":
            _requirement_files(os.path.join(build_dir, name), paths)
        elif os.path.isfile(os.path.join(build_dir, name)):
            paths.append(os.path.join(build_dir, name))
    return paths


def has_local_requirements(build_dir: str) -> bool:
    """Does requirements.txt (or an included file) install from the app's own source?"""
    for path in dependency_files(build_dir, "pip"):
        with open(path, encoding="utf-8", errors="replace") as fh:
            if any(_LOCAL_RE.search(line.strip()) for line in fh):
                return True
    return False


def dependency_hash(build_dir: str, package_manager: str) -> str:
    digest = hashlib.sha256()
    for path in dependency_files(build_dir, package_manager):
        digest.update(os.path.relpath(path, build_dir).encode() + b"\0")
        with open(path, "rb") as fh:
            digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def metadata(
    stack: str,
    python_version: str,
    interpreter: str,
    package_manager: str,
    tool_version: str,
    deps_hash: str,
) -> dict[str, object]:
    return {
        "format": FORMAT,
        "stack": stack,
        "python_version": python_version,
        "interpreter": interpreter,
        "package_manager": package_manager,
        "tool_version": tool_version,
        "dependency_hash": deps_hash,
    }


def load_metadata(cache_dir: str) -> dict[str, object] | None:
    try:
        with open(os.path.join(cache_dir, META_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def discard_reason(
    old: dict[str, object], new: dict[str, object], cache_dir: str, mounted: str | None = None
) -> str | None:
    """Why the cached venv can't be reused (None = it can). ``mounted``: where Cove mounted
    the cached venv, instead of it being in CACHE_DIR."""
    pm = new["package_manager"]
    files = " / ".join(DEPENDENCY_FILES[str(pm)])
    checks = (
        ("format", "The buildpack's cache format has changed"),
        ("stack", f"The stack has changed from {old.get('stack')} to {new['stack']}"),
        (
            "python_version",
            f"The Python version has changed from {old.get('python_version')} "
            f"to {new['python_version']}",
        ),
        ("interpreter", "The stack's Python interpreter has moved"),
        (
            "package_manager",
            f"The package manager has changed from {old.get('package_manager')} to {pm}",
        ),
        (
            "tool_version",
            f"The package manager version has changed from {old.get('tool_version')} "
            f"to {new['tool_version']}",
        ),
        ("dependency_hash", f"The contents of {files} changed"),
    )
    for key, reason in checks:
        if old.get(key) != new[key]:
            return reason
    cached = mounted or os.path.join(cache_dir, VENV_DIR)
    if not os.path.isfile(os.path.join(cached, "pyvenv.cfg")):
        return "The cached virtual environment is missing"
    return None


def _copy_tree(src: str, dst: str) -> None:
    """Copy a directory keeping symlinks, modes and mtimes (mtimes keep .pyc files valid)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if shutil.which("cp"):
        done = subprocess.run(["cp", "-a", src, dst], stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise OSError(f"cp -a {src} {dst} failed with exit status {done.returncode}")
    else:
        shutil.copytree(src, dst, symlinks=True)


def _remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def restore(cache_dir: str, venv: str) -> None:
    _remove(venv)
    _copy_tree(os.path.join(cache_dir, VENV_DIR), venv)


def empty(venv: str) -> None:
    """Remove everything in ``venv`` but the directory itself (a mount point)."""
    for name in os.listdir(venv):
        _remove(os.path.join(venv, name))


def clear(cache_dir: str) -> None:
    for name in (META_FILE, VENV_DIR, TAKE_MARKER):
        _remove(os.path.join(cache_dir, name))


def hand_over(cache_dir: str, meta: dict[str, object]) -> None:
    """Record what the venv was built from, and ask Cove to keep the build's venv as the
    cache (no copy). If Cove doesn't, the next build finds no venv and installs afresh."""
    os.makedirs(cache_dir, exist_ok=True)
    clear(cache_dir)
    _write_metadata(cache_dir, meta)
    with open(os.path.join(cache_dir, TAKE_MARKER), "w", encoding="utf-8"):
        pass


def _write_metadata(cache_dir: str, meta: dict[str, object]) -> None:
    meta_tmp = os.path.join(cache_dir, META_FILE + ".tmp")
    with open(meta_tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
    os.replace(meta_tmp, os.path.join(cache_dir, META_FILE))


def save(cache_dir: str, venv: str, meta: dict[str, object]) -> None:
    """Replace the cached venv with `venv`; metadata is written last so a crash can't leave
    metadata describing a half-copied venv."""
    os.makedirs(cache_dir, exist_ok=True)
    _remove(os.path.join(cache_dir, META_FILE))
    tmp = os.path.join(cache_dir, VENV_DIR + ".tmp")
    _remove(tmp)
    _copy_tree(venv, tmp)
    _remove(os.path.join(cache_dir, VENV_DIR))
    os.rename(tmp, os.path.join(cache_dir, VENV_DIR))
    _write_metadata(cache_dir, meta)
