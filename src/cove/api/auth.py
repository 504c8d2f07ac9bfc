"""Authentication: ``Bearer <token>`` or Basic with the token as password (git, heroku3);
Basic ``email:password`` only where a token is made (``POST /oauth/authorizations``)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from cove.api import limits
from cove.domain.errors import Unauthorized
from cove.services import accounts
from cove.store import Account, Store

# Documents the scheme in the OpenAPI schema; the header is read by ``account_for``.
_BEARER = HTTPBearer(
    auto_error=False,
    description="A Cove API token. HTTP Basic with the token as the password works too.",
)


def token_from_header(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip()).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return None


# The one route where Basic email:password is accepted: logging in makes a token there.
LOGIN_PATH = "/oauth/authorizations"
# The one route where an invitation token is a credential: setting a first password.
INVITATION_PATH = "/invitations/accept"


def account_for(store: Store, header: str | None, path: str = "") -> tuple[Account, str]:
    """The account (and token, or "" for a password) an ``Authorization`` header
    belongs to. A password is checked only on ``LOGIN_PATH`` and only once the secret
    is no token (``heroku login -i`` with a token as the password keeps working)."""
    token = token_from_header(header)
    if token is None:
        raise Unauthorized("Invalid credentials provided.")
    if path.rstrip("/") == INVITATION_PATH:
        return accounts.invited_account(store, token), ""
    try:
        return accounts.authenticate(store, token), token
    except Unauthorized:
        email = basic_user(header)
        if path.rstrip("/") != LOGIN_PATH or not email or "@" not in email:
            raise
    return accounts.password_login(store, email, token), ""


def authenticator(store: Store) -> limits.Authenticate:
    """``account_for`` off the event loop, for the body guard."""

    async def authenticate(header: str | None, path: str) -> tuple[Account, str]:
        return await run_in_threadpool(account_for, store, header, path)

    return authenticate


def current_account(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
) -> Account:
    """FastAPI dependency: the account the request's token belongs to (already known when
    the body guard authenticated the request before reading its body)."""
    return current_credentials(request)[0]


def current_credentials(request: Request) -> tuple[Account, str]:
    """The account and the token the request used ("" when it logged in by password)."""
    known: tuple[Account, str] | None = request.scope.get(limits.ACCOUNT)
    if known is None:
        # Kept, so a password (a costly hash) is checked once per request.
        known = request.scope[limits.ACCOUNT] = account_for(
            request.app.state.ctx.store, request.headers.get("authorization"), request.url.path
        )
    return known
