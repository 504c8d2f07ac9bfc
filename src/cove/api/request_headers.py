"""Headers Heroku's API puts on every answer: ``Request-Id`` and ``RateLimit-Remaining``.

``Request-Id`` echoes the client's own (the Heroku CLI sends a UUID with each request)
when it is 20 to 200 characters of ``[A-Za-z0-9+/=-]``, as Heroku keeps it; otherwise it
is a new UUID. Cove writes it in no log of its own; it is there for clients that track it.

Cove limits no token's request rate (connections are capped per client address instead,
see ``cove.limits``), so ``RateLimit-Remaining`` always reports ``RATE_LIMIT_REMAINING``,
Heroku's hourly budget: clients that pace themselves on it (heroku3 reads it) never wait.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RATE_LIMIT_REMAINING = 4500

_REQUEST_ID = re.compile(r"^[A-Za-z0-9+/=-]{20,200}$")


def request_id(sent: str | None) -> str:
    """The id of a request: the client's if it is well formed, else a new one."""
    if sent is not None and _REQUEST_ID.match(sent):
        return sent
    return str(uuid.uuid4())


class ResponseHeaders:
    """ASGI middleware adding the two headers to every HTTP answer, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(Headers(scope=scope).get("request-id"))

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Request-Id"] = rid
                headers["RateLimit-Remaining"] = str(RATE_LIMIT_REMAINING)
            await send(message)

        await self.app(scope, receive, add)
