"""Log sessions: ``POST /apps/{app}/log-sessions`` gives a capability URL to stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse

from cove.api import openapi, params
from cove.api.auth import current_account
from cove.api.context import LogSession
from cove.api.routes.common import ctx, load_app
from cove.domain.errors import NotFound
from cove.logs import HISTORY, LogFilter
from cove.store import Account

router = APIRouter()

# The Heroku CLI reads the stream with Node's fetch, which gives up on a body that sends
# nothing for 5 minutes: a quiet `heroku logs --tail` would end with "Body Timeout Error".
# An SSE comment (ignored by EventSource) now and then keeps it open.
KEEPALIVE_SECONDS = 30.0
KEEPALIVE = b": keepalive\n\n"


async def with_keepalives(lines: AsyncIterator[str], every: float) -> AsyncIterator[str | None]:
    """``lines``, with ``None`` each time ``every`` seconds pass without one. The next line
    is awaited in a task that outlives the waits: cancelling the generator's own ``anext``
    would close it (and end the tail)."""
    pending = asyncio.ensure_future(anext(lines))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            try:
                line = pending.result()
            except StopAsyncIteration:
                return
            yield line
            pending = asyncio.ensure_future(anext(lines))
    finally:
        if not pending.done():
            pending.cancel()  # the generator's own finally runs (the tail is dropped)
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(lines, "aclose", None)  # an async generator: run its finally now
        if aclose is not None:
            await aclose()


@router.post(
    "/apps/{ident}/log-sessions",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            lines=openapi.INTEGER,
            tail=openapi.BOOLEAN,
            dyno=openapi.STRING,
            dyno_name=openapi.STRING,
            type=openapi.STRING,
            source=openapi.STRING,
        ),
        {"lines": 100, "tail": True, "dyno": "web.1", "source": "app"},
        optional=True,
    ),
)
def create_log_session(
    request: Request,
    ident: str,
    body: dict[str, Any] | None = Body(default=None),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    body = body or {}
    lines = params.integer(body, "lines", 100) or 100
    dyno = [params.text(body, key) for key in ("dyno", "dyno_name", "type")]
    session = LogSession(
        app_id=app.id,
        lines=max(0, min(lines, HISTORY)),
        tail=bool(body.get("tail")),
        where=LogFilter(
            source=params.text(body, "source") or None,
            dyno=next((d for d in dyno if d), None),
        ),
        created=time.monotonic(),
    )
    token = ctx(request).new_log_session(session)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "id": token[:16],
        "logplex_url": f"{ctx(request).settings.api_url}/log-sessions/{token}",
        "created_at": now,
        "updated_at": now,
    }


@router.get(
    "/log-sessions/{token}",
    response_class=StreamingResponse,
    responses=openapi.streamed(
        "text/plain", "text/event-stream", description="Log lines (SSE when asked for)"
    ),
)
async def stream_logs(request: Request, token: str) -> StreamingResponse:
    """Server-sent events for clients that ask (the Heroku CLI), plain text otherwise."""
    session = ctx(request).log_sessions.get(token)
    if session is None:
        raise NotFound("Unknown or expired log session.")
    sse = "text/event-stream" in request.headers.get("accept", "")
    lines = ctx(request).logs.stream(session.app_id, session.lines, session.where, session.tail)

    async def body() -> AsyncIterator[bytes]:
        if not sse:
            async for line in lines:
                yield f"{line}\n".encode()
            return
        async for event in with_keepalives(lines, KEEPALIVE_SECONDS):
            yield KEEPALIVE if event is None else f"data: {event}\n\n".encode()

    media = "text/event-stream" if sse else "text/plain; charset=utf-8"
    return StreamingResponse(body(), media_type=media, headers={"Cache-Control": "no-cache"})
