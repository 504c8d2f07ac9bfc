"""Request bodies: credentials are checked before a body is read, and no body is read past
its limit.

FastAPI reads a route's whole body before it runs the route's dependencies, so without
this an unauthenticated client could make the server hold any amount of data. This ASGI
middleware sits in front of every route:

- A request to the API that carries a body is authenticated first; without valid
  credentials it gets 401 and its body is never read.
- Then its declared ``Content-Length`` is checked against the limit (413 at once), and the
  body is counted as the route reads it, so a chunked body that grows past the limit
  stops there (413).
- Source uploads (``PUT /sources/{id}``) and git (``/{app}.git/...``) check their own
  credentials before they read (the upload URL is a capability; git takes Basic auth), and
  have their own, larger limits, enforced as they read.

A refusal made before the body was read closes the connection: otherwise the server would
go on receiving (and discarding) the rest of it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cove.api import errors
from cove.domain.errors import Unauthorized
from cove.settings import Settings
from cove.store import Account

# What this middleware leaves in the scope for the routes.
ACCOUNT = "cove.account"  # (account, token) of a request authenticated before its body
BUDGET = "cove.body_budget"  # the request's ``Budget``

# Checks an Authorization header (for a path): the account and token, or ``Unauthorized``.
Authenticate = Callable[[str | None, str], Awaitable[tuple[Account, str]]]

# A push's request holds its ref update commands before the pack; git itself refuses a
# pack over the limit (see gitreceiver), the request may be this much larger.
PUSH_COMMANDS_ALLOWANCE = 1 << 20

_SOURCE = re.compile(r"^/sources/[^/]+$")
_GIT = re.compile(r"^/[^/]+\.git/")
# The web dashboard (cove.dashboard) logs in with a session cookie: it checks the session
# before it reads a form, and reads at most 64 KiB of it.
_DASHBOARD = re.compile(r"^/dashboard(/|$)")


@dataclass(frozen=True)
class BodyLimits:
    api: int  # JSON bodies of the Platform API (COVE_API_MAX_BODY_BYTES)
    source: int  # a build's source archive (COVE_SOURCE_MAX_BYTES)
    push: int  # the pack of a git push (COVE_PUSH_MAX_BYTES)

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(settings.api_max_body_bytes, settings.source_max_bytes, settings.push_max_bytes)


@dataclass(frozen=True)
class Budget:
    """How much of one request's body may be read."""

    kind: str  # "api", "source" or "push"
    what: str  # "The request body", as the error says it
    limit: int  # the documented limit
    allowed: int  # the bytes that may actually be read (git: a little more)

    def refusal(self) -> BodyTooLarge:
        return BodyTooLarge(f"{self.what} is larger than {size_text(self.limit)}.")


class BodyTooLarge(HTTPException):
    """413: an HTTPException so that FastAPI's body parsing passes it through untouched."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


def size_text(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            amount = size / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes"


def budget_for(scope: Scope, limits: BodyLimits) -> Budget:
    path: str = scope["path"]
    if _GIT.match(path):
        return Budget("push", "The push", limits.push, limits.push + PUSH_COMMANDS_ALLOWANCE)
    if scope["method"] == "PUT" and _SOURCE.match(path):
        return Budget("source", "The source archive", limits.source, limits.source)
    if _DASHBOARD.match(path):
        return Budget("dashboard", "The form", limits.api, limits.api)
    return Budget("api", "The request body", limits.api, limits.api)


def declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def check_declared(scope: Scope) -> None:
    """Raise ``BodyTooLarge`` if the request declares a body over its limit (for routes
    that must answer before they start reading, such as git)."""
    budget: Budget | None = scope.get(BUDGET)
    length = declared_length(Headers(scope=scope))
    if budget is not None and length is not None and length > budget.allowed:
        raise budget.refusal()


class BodyGuard:
    def __init__(self, app: ASGIApp, limits: BodyLimits, authenticate: Authenticate) -> None:
        self.app = app
        self.limits = limits
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        length = declared_length(headers)
        has_body = "transfer-encoding" in headers or (length or 0) > 0
        if scope["type"] != "http" or not has_body:
            await self.app(scope, receive, send)
            return
        budget = scope[BUDGET] = budget_for(scope, self.limits)
        if budget.kind == "api":  # git, uploads and the dashboard check their own
            try:
                scope[ACCOUNT] = await self.authenticate(
                    headers.get("authorization"), scope["path"]
                )
            except Unauthorized as exc:
                await errors.response_for(exc)(scope, receive, _closing(send))
                return
            if length is not None and length > budget.allowed:
                refusal = errors.http_error_response(budget.refusal())
                await refusal(scope, receive, _closing(send))
                return
        await _Limited(self.app, budget, length or 0)(scope, receive, send)


def _closing(send: Send) -> Send:
    """``send`` for an answer given without reading the body: the connection is closed
    after it rather than kept for the rest of the body."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
        await send(message)

    return closing


class _Limited:
    """Runs the app with a ``receive`` that counts the body and stops at the limit."""

    def __init__(self, app: ASGIApp, budget: Budget, declared: int) -> None:
        self.app = app
        self.budget = budget
        self.declared = declared  # the request's Content-Length (0: none)
        self.received = 0
        self.tripped = False
        self.read_all = False

    def count(self, size: int) -> None:
        if size > self.budget.allowed:
            self.tripped = True
        if self.tripped:
            raise self.budget.refusal()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        closing = _closing(send)

        async def limited_receive() -> Message:
            # A declared length over the limit is refused before the first byte is read.
            self.count(max(self.received, self.declared))
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                self.read_all = not message.get("more_body", False)
                self.count(self.received)
            return message

        async def limited_send(message: Message) -> None:
            # An answer given before the whole body was read (a refusal, an unknown upload
            # URL): close the connection rather than keep it to receive the rest.
            await (send if self.read_all else closing)(message)

        await self.app(scope, limited_receive, limited_send)
