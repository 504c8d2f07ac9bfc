"""Turn a Poetry 2 lock file (lock-version >= 2.1) into pinned requirements for uv.

Lock 2.1 records, per package, the dependency groups that need it and the environment
markers under which it's needed, so `poetry sync --only main` is "every non-optional package
whose groups include main", filtered by its markers. Older locks lack that information and are
installed with Poetry itself (see install.py).
"""

from __future__ import annotations

import os
from typing import Any

from output import BuildError

try:  # Python >= 3.11
    import tomllib
except ImportError:  # pragma: no cover - the buildpack interpreter is expected to be >= 3.11
    tomllib = None  # type: ignore[assignment]

GROUP = "main"


def load_toml(path: str) -> dict[str, Any]:
    if tomllib is None:
        raise BuildError(
            "Reading TOML needs Python >= 3.11 to run the buildpack. This is a Cove bug."
        )
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError) as exc:
        raise BuildError(f"Can't parse {os.path.basename(path)}: {exc}") from exc


def lock_version(lock: dict[str, Any]) -> tuple[int, ...]:
    raw = str((lock.get("metadata") or {}).get("lock-version", "1.0"))
    try:
        return tuple(int(part) for part in raw.split("."))
    except ValueError:
        return (0,)


def supports_uv(lock: dict[str, Any]) -> bool:
    return lock_version(lock) >= (2, 1)


def _markers(package: dict[str, Any]) -> str:
    markers = package.get("markers") or ""
    if isinstance(markers, dict):
        markers = markers.get(GROUP, "")
    return str(markers)


def _requirement(package: dict[str, Any], build_dir: str) -> tuple[str, bool]:
    """One requirements line for a locked package, and whether it can carry hashes."""
    name, version = package["name"], package["version"]
    source = package.get("source") or {}
    kind = source.get("type")
    markers = _markers(package)
    suffix = f" ; {markers}" if markers else ""
    if kind == "git":
        url = source["url"]
        url = url if url.startswith("git+") else f"git+{url}"
        ref = source.get("resolved_reference") or source.get("reference")
        url += f"@{ref}" if ref else ""
        url += f"#subdirectory={source['subdirectory']}" if source.get("subdirectory") else ""
        return f"{name} @ {url}{suffix}", False
    if kind in ("directory", "file"):
        path = os.path.normpath(os.path.join(build_dir, source["url"]))
        if kind == "directory" and package.get("develop"):
            return f"-e {path}", False
        return f"{name} @ file://{path}{suffix}", False
    if kind == "url":
        return f"{name} @ {source['url']}{suffix}", False
    return f"{name}=={version}{suffix}", bool(package.get("files"))


def to_requirements(lock: dict[str, Any], build_dir: str) -> str:
    """Requirements text (with index options) for the lock's main, non-optional packages."""
    packages = [
        p
        for p in lock.get("package") or []
        if GROUP in (p.get("groups") or []) and not p.get("optional", False)
    ]
    lines: list[str] = []
    for url in sorted(
        {
            p["source"]["url"]
            for p in packages
            if (p.get("source") or {}).get("type") == "legacy" and p["source"].get("url")
        }
    ):
        lines.append(f"--extra-index-url {url}")
    reqs = [(p, *_requirement(p, build_dir)) for p in sorted(packages, key=lambda p: p["name"])]
    with_hashes = bool(reqs) and all(hashable for *_, hashable in reqs)
    for package, line, _hashable in reqs:
        if with_hashes:
            line += "".join(f" --hash={f['hash']}" for f in package["files"] if f.get("hash"))
        lines.append(line)
    return "\n".join(lines) + "\n"


def installs_root_project(pyproject: dict[str, Any]) -> bool:
    """Poetry installs the project itself unless `package-mode = false` (needs a build system)."""
    poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    return poetry.get("package-mode", True) is not False and "build-system" in pyproject
