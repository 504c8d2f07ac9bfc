"""Turn Pipfile.lock's `default` section into a pinned requirements file uv can install.

This replaces `pipenv install --deploy`: same packages, without installing pipenv. Hashes are
kept (uv then verifies them) unless some entry has none (VCS, path or file requirements),
since hash-checking mode is all-or-nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

from output import BuildError

PYPI_URLS = ("https://pypi.org/simple", "https://pypi.python.org/simple")


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"Can't parse Pipfile.lock: {exc}\n\nRegenerate it with 'pipenv lock' and commit it."
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("default", {}), dict):
        raise BuildError("Pipfile.lock is malformed: 'default' must be an object.")
    return data


def _requirement(name: str, entry: dict[str, Any], build_dir: str) -> tuple[str, bool]:
    """One requirements line for an entry, and whether it can carry hashes."""
    extras = entry.get("extras") or []
    base = f"{name}[{','.join(extras)}]" if extras else name
    markers = entry.get("markers")
    suffix = f" ; {markers}" if markers else ""
    if "git" in entry:
        url = entry["git"]
        url = url if url.startswith("git+") else f"git+{url}"
        if entry.get("ref"):
            url += f"@{entry['ref']}"
        if entry.get("subdirectory"):
            url += f"#subdirectory={entry['subdirectory']}"
        return f"{base} @ {url}{suffix}", False
    if "path" in entry:
        path = os.path.normpath(os.path.join(build_dir, entry["path"]))
        if entry.get("editable"):
            return f"-e {path}", False
        return f"{base} @ file://{path}{suffix}", False
    if "file" in entry:
        return f"{base} @ {entry['file']}{suffix}", False
    version = entry.get("version") or ""
    if version == "*":
        version = ""
    return f"{base}{version}{suffix}", bool(entry.get("hashes"))


def to_requirements(data: dict[str, Any], build_dir: str) -> str:
    """Requirements text (with index options) for the lock's `default` packages."""
    lines: list[str] = []
    for source in (data.get("_meta") or {}).get("sources") or []:
        url = str(source.get("url", "")).rstrip("/")
        if url and url not in PYPI_URLS:
            lines.append(f"--extra-index-url {url}")
    entries = sorted((data.get("default") or {}).items())
    reqs = [(name, entry, *_requirement(name, entry, build_dir)) for name, entry in entries]
    with_hashes = all(hashable for *_, hashable in reqs)
    for _name, entry, line, _hashable in reqs:
        if with_hashes:
            line += "".join(f" --hash={h}" for h in entry["hashes"])
        lines.append(line)
    return "\n".join(lines) + "\n"
