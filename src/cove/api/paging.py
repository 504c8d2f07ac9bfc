"""Heroku's list ranges: ``Range: <field> [start]..[end]; max=N, order=asc|desc``.

Every list the API answers (a ``GET`` whose JSON body is an array) goes through
``RangePaging``, so a route only returns its whole list and any new list endpoint pages
without doing anything. A list is sorted by the requested field, cut to the range and to
``max`` items (200 unless asked, at most 1000); when more remain the answer is ``206
Partial Content`` with ``Next-Range``, which the client sends back as its next ``Range``.
``]value`` starts after ``value`` (exclusive), as in Heroku's ``Next-Range``.

Without a ``Range`` header a list comes whole, in the route's own order. Clients send
loose ranges (heroku3: ``id ..; ;``, the CLI: ``version ..; order=desc,max=1``): empty
parameters are ignored, and a field the list can't be ranged by is read as ``id``. A range
Cove cannot satisfy (no field, a bad ``max`` or ``order``, a bound of the wrong type) is
``416 requested_range_not_satisfiable``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cove.api import errors

DEFAULT_MAX = 200
LARGEST_MAX = 1000
# Fields a list can be ranged by, when each of its items has one (a string or a number).
FIELDS = ("id", "name", "version", "hostname", "created_at", "updated_at")
DEFAULT_FIELD = "id"
RANGE_ERROR = "requested_range_not_satisfiable"

_PARAM = re.compile(r"^\s*([a-z_]+)\s*=\s*(\S*)\s*$")


class RangeNotSatisfiable(Exception):
    """A ``Range`` header Cove cannot answer (416)."""


@dataclass(frozen=True)
class Range:
    field: str = DEFAULT_FIELD
    start: str | None = None
    end: str | None = None
    after_start: bool = False  # ``]start``: values after start, not start itself
    max: int = DEFAULT_MAX
    descending: bool = False


@dataclass(frozen=True)
class Page:
    items: list[Any]
    content_range: str | None  # ``<field> <first>..<last>`` of the items returned
    next_range: str | None  # set when more items remain (then the answer is 206)


def parse(header: str) -> Range | None:
    """The range a ``Range`` header asks for; ``None`` for an empty one (the whole list)."""
    text = header.strip()
    if not text:
        return None
    head, _, rest = text.partition(";")
    field, _, bounds = head.strip().partition(" ")
    if ".." in field or field.startswith("]"):  # no field named: ``]x..`` or ``..``
        field, bounds = DEFAULT_FIELD, head.strip()
    if not field.replace("_", "").isalnum():
        raise RangeNotSatisfiable(f"Range must name a field to sort by, not {field!r}.")
    bounds = bounds.strip()
    after = bounds.startswith("]")
    if after:
        bounds = bounds[1:]
    if bounds and ".." not in bounds:
        raise RangeNotSatisfiable(f"Range bounds must be written start..end, not {bounds!r}.")
    start, _, end = bounds.partition("..")
    limit, descending = DEFAULT_MAX, False
    for part in re.split(r"[;,]", rest):
        if not part.strip():
            continue
        match = _PARAM.match(part)
        if match is None:
            raise RangeNotSatisfiable(f"Range parameters are key=value, not {part.strip()!r}.")
        key, value = match.groups()
        if key == "max":
            if not value.isdigit() or int(value) < 1:
                raise RangeNotSatisfiable("Range max must be a whole number from 1.")
            limit = min(int(value), LARGEST_MAX)
        elif key == "order":
            if value not in ("asc", "desc"):
                raise RangeNotSatisfiable("Range order must be asc or desc.")
            descending = value == "desc"
        # Other parameters are Heroku's own (none change what Cove returns).
    return Range(field, start.strip() or None, end.strip() or None, after, limit, descending)


def accepted_fields(items: Sequence[Any]) -> list[str]:
    """The fields every item has a string or number for (for ``Accept-Ranges``)."""
    if not items:
        return [DEFAULT_FIELD]
    return [
        f
        for f in FIELDS
        if all(
            isinstance(i, dict)
            and isinstance(i.get(f), str | int)
            and not isinstance(i.get(f), bool)
            for i in items
        )
    ]


def page(items: Sequence[Any], spec: Range) -> Page:
    """The items ``spec`` selects, in its order, and the range of the rest."""
    if not items:
        return Page([], None, None)
    accepted = accepted_fields(items)
    if spec.field not in accepted:
        # Read as the default field, as a client's own idea of a field is common (heroku3
        # ranges domains by "domain"); a list without ids can't be ranged at all.
        if DEFAULT_FIELD not in accepted:
            raise RangeNotSatisfiable(f"This list can be ranged by {', '.join(accepted)}.")
        spec = replace(spec, field=DEFAULT_FIELD)
    numeric = isinstance(items[0][spec.field], int)
    start, end = _bound(spec.start, numeric), _bound(spec.end, numeric)
    ordered = sorted(items, key=lambda i: i[spec.field], reverse=spec.descending)

    def before(a: Any, b: Any) -> bool:  # a comes before b in the chosen order
        return a > b if spec.descending else a < b

    selected = [
        i
        for i in ordered
        if (
            start is None
            or before(start, i[spec.field])
            or (not spec.after_start and i[spec.field] == start)
        )
        and (end is None or not before(end, i[spec.field]))
    ]
    shown, more = selected[: spec.max], len(selected) > spec.max
    if not shown:
        return Page([], None, None)
    first, last = shown[0][spec.field], shown[-1][spec.field]
    content = f"{spec.field} {first}..{last}"
    if not more:
        return Page(shown, content, None)
    tail = f"{end}" if end is not None else ""
    order = ", order=desc" if spec.descending else ""
    return Page(shown, content, f"{spec.field} ]{last}..{tail}; max={spec.max}{order}")


def _bound(value: str | None, numeric: bool) -> str | int | None:
    if value is None or not numeric:
        return value
    try:
        return int(value)
    except ValueError:
        raise RangeNotSatisfiable(
            f"Range bounds of this field are numbers, not {value!r}."
        ) from None


class RangePaging:
    """ASGI middleware: pages every JSON array answered to a ``GET`` (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("range")
        try:
            spec = parse(header) if header is not None else None
        except RangeNotSatisfiable as exc:
            await errors.error_response(416, RANGE_ERROR, str(exc))(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message["headers"]).get("content-type", "")
                if message["status"] == 200 and content_type.startswith("application/json"):
                    start = message  # held until the body shows whether it is a list
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _answer(start, b"".join(chunks), spec, scope, receive, send)
                return
            await send(message)

        await self.app(scope, receive, capture)


async def _answer(
    start: Message, body: bytes, spec: Range | None, scope: Scope, receive: Receive, send: Send
) -> None:
    document = json.loads(body) if body else None
    headers = MutableHeaders(raw=list(start["headers"]))
    status = start["status"]
    if isinstance(document, list):
        headers["Accept-Ranges"] = ", ".join(accepted_fields(document))
        if spec is not None:
            try:
                result = page(document, spec)
            except RangeNotSatisfiable as exc:
                await errors.error_response(416, RANGE_ERROR, str(exc))(scope, receive, send)
                return
            body = json.dumps(result.items, separators=(",", ":")).encode()
            headers["Content-Length"] = str(len(body))
            if result.content_range:
                headers["Content-Range"] = result.content_range
            if result.next_range:
                headers["Next-Range"] = result.next_range
                status = 206
    await send({**start, "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})
