"""Config vars: key rule and size limit (Heroku: 64 KB for all keys and values)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cove.domain.errors import InvalidParams

CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TOTAL_BYTES = 64 * 1024


def validate_changes(changes: Mapping[str, object]) -> dict[str, str | None]:
    """Check a PATCH body: keys must match the rule, values are strings (numbers and
    booleans are stringified as clients send them) or ``None`` to unset."""
    if not changes:
        raise InvalidParams("No config vars given.")
    clean: dict[str, str | None] = {}
    for key, value in changes.items():
        if not CONFIG_KEY.match(key):
            raise InvalidParams(
                f"Invalid config var name {key!r}: names may contain only letters, digits "
                "and underscores, and must not begin with a digit."
            )
        if value is None:
            clean[key] = None
        elif isinstance(value, bool):
            clean[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            clean[key] = str(value)
        else:
            raise InvalidParams(f"Config var {key} must be a string or null.")
        if "\0" in (clean[key] or ""):
            # A process environment can't hold NUL (execve ends the string there).
            raise InvalidParams(f"Config var {key} must not contain a NUL character.")
        if not _is_utf8(clean[key] or ""):
            # JSON's "\ud800" escapes half a UTF-16 pair: no UTF-8 text (the store, an
            # environment) can hold it.
            raise InvalidParams(
                f"Config var {key} must be valid UTF-8 text (it holds a lone surrogate)."
            )
    return clean


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def apply_changes(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    result = dict(current)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    size = sum(len(k.encode()) + len(v.encode()) for k, v in result.items())
    if size > MAX_TOTAL_BYTES:
        raise InvalidParams(
            f"Config vars would total {size} bytes; the limit is {MAX_TOTAL_BYTES} bytes per app."
        )
    return result


def describe_changes(changes: Mapping[str, str | None]) -> str:
    """Release description, Heroku's wording: ``Set FOO, BAR config vars``."""
    set_keys = [k for k, v in changes.items() if v is not None]
    unset_keys = [k for k, v in changes.items() if v is None]
    parts = []
    if set_keys:
        parts.append(f"Set {', '.join(set_keys)} config vars")
    if unset_keys:
        parts.append(f"Remove {', '.join(unset_keys)} config vars")
    return " and ".join(parts)
