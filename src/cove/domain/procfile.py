"""The Procfile: ``<process type>: <command>`` per line."""

from __future__ import annotations

import re

from cove.domain.errors import InvalidParams

# The permissive classic form (what `heroku local`'s foreman parser accepts). A later
# duplicate wins, as in Heroku's newer parser.
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$")


class ProcfileError(InvalidParams):
    pass


def parse_procfile(text: str) -> dict[str, str]:
    """Parse a Procfile into ``{type: command}``; malformed lines are errors with their
    line number, because silently skipping one would drop a process type."""
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ProcfileError(
                f"Procfile line {number} is not of the form `<process type>: <command>`: "
                f"{raw.strip()!r}"
            )
        name, command = match.group(1), match.group(2).strip()
        if len(name) > 128:
            raise ProcfileError(f"Procfile line {number}: process type name is too long")
        types[name] = command
    return types
