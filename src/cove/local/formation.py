"""Which processes `cove local` starts: ``web=2 worker=1`` (or ``web=2,worker=1``, or just
``web``), else one of each Procfile type except ``release``, in Procfile order."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cove.domain.errors import InvalidParams

_ITEM = re.compile(r"^([A-Za-z0-9_-]+)(?:=(\d{1,4}))?$")
MAX_PER_TYPE = 100


class FormationError(InvalidParams):
    pass


def parse_formation(args: Sequence[str], procfile: Mapping[str, str]) -> dict[str, int]:
    """``{type: count}`` in the order given; the order fixes each type's port block."""
    if not args:
        return {name: 1 for name in procfile if name != "release"}
    formation: dict[str, int] = {}
    for arg in args:
        for item in arg.split(","):
            item = item.strip()
            if not item:
                continue
            match = _ITEM.match(item)
            if not match:
                raise FormationError(
                    f"Invalid process formation {item!r}: expected TYPE or TYPE=COUNT, "
                    "e.g. `web=2 worker=1`."
                )
            name, count = match.group(1), int(match.group(2) or 1)
            if name not in procfile:
                known = ", ".join(procfile) or "none"
                raise FormationError(
                    f"No {name!r} process type in the Procfile (its types: {known})."
                )
            if count > MAX_PER_TYPE:
                raise FormationError(
                    f"{item!r}: at most {MAX_PER_TYPE} processes of one type run locally."
                )
            formation[name] = count
    return formation
