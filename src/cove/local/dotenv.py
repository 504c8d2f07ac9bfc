"""The `.env` file as `heroku local` reads it.

A file that is a JSON object is flattened (nested keys joined with ``_``, upper-cased).
Otherwise it is ``KEY=VALUE`` lines: blank lines, full-line ``#`` comments and lines of two
characters or fewer are ignored; the line is split on its first ``=`` and both sides trimmed;
a value in ``"..."`` or ``'...'`` is taken literally up to the closing quote (no escapes, no
multi-line values); an unquoted value ends at its first ``#``. Cove also accepts an
``export `` prefix (shell-style files), and warns about, then skips, lines that `heroku local`
would turn into nonsense or crash on (no ``=``, an empty or spaced key, an unclosed quote).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_EXPORT = re.compile(r"^export\s+")
_BAD_KEY = re.compile(r"[\s\x00]")


@dataclass
class EnvFile:
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    format: str = "KEY=VALUE"


def parse_env(text: str, source: str = ".env") -> EnvFile:
    """Parse the text of an env file; ``source`` names it in warnings."""
    as_json = _json_object(text)
    if as_json is not None:
        result = EnvFile(format="JSON")
        for key, value in flatten_json(as_json).items():
            if "=" in key or "\x00" in key or "\x00" in value or not key:
                result.warnings.append(f"{source}: skipped the unusable JSON key {key!r}")
            else:
                result.values[key] = value
        return result
    result = EnvFile()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if len(line) <= 2 or line.startswith("#"):
            continue
        problem = _parse_line(line, result.values)
        if problem:
            result.warnings.append(f"{source} line {number} {problem}, skipped: {line!r}")
    return result


def _parse_line(line: str, into: dict[str, str]) -> str | None:
    """Add the pair on ``line`` to ``into``; return what is wrong with it, if anything."""
    if "=" not in line:
        return "has no `=`"
    key, _, value = line.partition("=")
    key = _EXPORT.sub("", key.strip())
    if not key or _BAD_KEY.search(key):
        return "has no valid name before `=`"
    value = value.strip()
    if value[:1] in ('"', "'"):
        end = value.find(value[0], 1)
        if end < 0:
            return f"has an unclosed {value[0]} quote"
        value = value[1:end]
    else:
        value = value.split("#", 1)[0].rstrip()
    if "\x00" in value:
        return "has a NUL character"
    into[key] = value
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def flatten_json(data: dict[str, Any]) -> dict[str, str]:
    """``{"db": {"url": "x"}}`` → ``{"DB_URL": "x"}``; lists are indexed (``A_0``), nulls
    dropped, booleans and numbers written as JavaScript would (``true``, ``3``)."""
    flat: dict[str, str] = {}

    def walk(node: Any, path: list[str]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            here = [*path, str(key)]
            if isinstance(item, dict | list):
                walk(item, here)
            elif item is not None:
                flat["_".join(here).upper()] = _js_string(item)

    walk(data, [])
    return flat


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_env_files(spec: str | None, cwd: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """Read ``spec`` (comma-separated paths, default ``.env``; later files win).

    Returns the values, notices (which file was loaded, and how) and warnings. A missing
    file is no error (a project need not have a ``.env``); a directory is skipped with a
    warning, as `heroku local` does."""
    values: dict[str, str] = {}
    notices: list[str] = []
    warnings: list[str] = []
    for name in (spec or ".env").split(","):
        name = name.strip()
        if not name:
            continue
        path = cwd / name
        if not path.exists():
            continue
        if not path.is_file():
            warnings.append(f"The env file {name} is not a file, ignoring it.")
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            warnings.append(f"Could not read the env file {name}: {exc.strerror}")
            continue
        parsed = parse_env(text, name)
        values.update(parsed.values)
        warnings.extend(parsed.warnings)
        notices.append(f"Loaded ENV {name} File as {parsed.format} Format")
    return values, notices, warnings
