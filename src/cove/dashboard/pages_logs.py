"""An app's Logs page: the recent lines (``cove logs``), then a live tail (``cove logs
--tail``) sent as server-sent events and added to the page by ``static/logs.js``. Both take
``cove logs``'s filters: ``source`` (app, heroku) and ``dyno`` (web.1, or a process type
such as web or router).

A tail is a subscriber of the log router, as the CLI's is: a slow browser leaves lines in
that subscriber's bounded queue (the newest dropped beyond it, with an L11 line), never in
this server's memory. Each tail is capped in time and lines, and a session may hold only a
few at once; the session is checked again at each keepalive (a logged-out tail ends)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cove.dashboard import sessions
from cove.dashboard.pages_app import _load
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import dashboard, error_page, page, render
from cove.logs import HISTORY, LogFilter

DEFAULT_LINES = 100  # as `cove logs`
PAGE_MAX_LINES = 1000  # lines the page keeps; older ones leave it as new ones come
TAIL_SECONDS = 15 * 60.0  # a live tail ends after this long (the page offers to resume)
TAIL_LINES = 20_000  # ... or after this many lines
TAILS_PER_SESSION = 4
KEEPALIVE_SECONDS = 15.0
_SOURCES = ("app", "heroku")
_DYNO = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_open_tails: Counter[str] = Counter()  # by session id


class BadFilter(ValueError):
    pass


def _filters(request: Request) -> tuple[LogFilter, int]:
    query = request.query_params
    source = query.get("source", "").strip() or None
    dyno = query.get("dyno", "").strip() or None
    if source is not None and source not in _SOURCES:
        raise BadFilter("The source must be app or heroku.")
    if dyno is not None and not _DYNO.fullmatch(dyno):
        raise BadFilter("The dyno must be a dyno (web.1) or a process type (web, router).")
    raw = query.get("lines", "").strip()
    if raw and not (raw.isdigit() and 1 <= int(raw) <= HISTORY):
        raise BadFilter(f"Lines must be a number from 1 to {HISTORY}.")
    return LogFilter(source=source, dyno=dyno), int(raw) if raw else DEFAULT_LINES


@page
async def logs_page(request: Request, visitor: Visitor) -> Response:
    app, header = await run_in_threadpool(_load, request, visitor)
    dash = dashboard(request)
    try:
        where, count = _filters(request)
    except BadFilter as exc:
        return error_page(request, visitor, 400, str(exc))
    # (the router's buffers are read on the event loop, where they are written)
    recent = dash.ctx.logs.recent(app.id, count, where)
    query = request.url.query
    data: dict[str, Any] = {
        **header,
        "lines": recent,
        "where": where,
        "count": count,
        "stream_url": dash.app_url(app.name, "/logs/stream") + (f"?{query}" if query else ""),
        "page_max": PAGE_MAX_LINES,
        "tail_minutes": int(TAIL_SECONDS // 60),
    }
    return render(request, "logs.html", visitor, tab="logs", **data)


async def _still_logged_in(request: Request) -> bool:
    """The session is still open (without taking the notice a page should show)."""
    dash = dashboard(request)
    token = request.cookies.get(dash.cookie)
    found = await run_in_threadpool(sessions.visitor, dash.ctx.store, token, take_flash=False)
    return found is not None


def _event(data: str, name: str | None = None) -> bytes:
    """One SSE event; a line's own line breaks (there should be none) stay inside it."""
    head = f"event: {name}\n" if name else ""
    return (head + "".join(f"data: {part}\n" for part in data.split("\n")) + "\n").encode()


async def _tail(
    request: Request, session_id: str, lines: AsyncIterator[str]
) -> AsyncGenerator[bytes]:
    if _open_tails[session_id] >= TAILS_PER_SESSION:
        yield _event(f"{TAILS_PER_SESSION} live tails are open already: close one.", "end")
        return
    _open_tails[session_id] += 1
    loop = asyncio.get_running_loop()
    pending = asyncio.ensure_future(anext(lines))
    try:
        await asyncio.sleep(0)  # the subscriber is registered: no line after "ready" is missed
        yield _event("", "ready")
        deadline, sent = loop.time() + TAIL_SECONDS, 0
        while True:
            left = deadline - loop.time()
            if left <= 0:
                yield _event(f"The live tail ended after {int(TAIL_SECONDS // 60)} minutes.", "end")
                return
            done, _ = await asyncio.wait({pending}, timeout=min(KEEPALIVE_SECONDS, left))
            if not done:
                if not await _still_logged_in(request):
                    yield _event("You are logged out.", "end")
                    return
                yield b": keepalive\n\n"
                continue
            try:
                line = pending.result()
            except StopAsyncIteration:
                return
            yield _event(line)
            sent += 1
            if sent >= TAIL_LINES:
                yield _event(f"The live tail ended after {TAIL_LINES} lines.", "end")
                return
            pending = asyncio.ensure_future(anext(lines))
    finally:
        _open_tails[session_id] -= 1
        if _open_tails[session_id] <= 0:
            del _open_tails[session_id]
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(lines, "aclose", None)  # the router drops the subscriber now
        if aclose is not None:
            await aclose()


@page
async def stream(request: Request, visitor: Visitor) -> Response:
    """New lines only (the page shows the recent ones), as ``text/event-stream``."""
    app, _ = await run_in_threadpool(_load, request, visitor)
    try:
        where, _count = _filters(request)
    except BadFilter as exc:
        return error_page(request, visitor, 400, str(exc))
    lines = dashboard(request).ctx.logs.stream(app.id, 0, where, tail=True)
    return StreamingResponse(
        _tail(request, visitor.session_id, lines),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
