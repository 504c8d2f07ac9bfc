"""The one place domain errors become HTTP responses (Heroku's ``{"id", "message"}``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cove.addons import ProviderError
from cove.domain.errors import (
    Conflict,
    CoveError,
    Forbidden,
    InvalidParams,
    NotFound,
    Unauthorized,
)

STATUS: dict[type, int] = {
    NotFound: 404,
    InvalidParams: 422,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    ProviderError: 503,
}

# Heroku's ids for conditions found by the HTTP layer rather than by Cove's code.
HTTP_IDS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_entity_too_large",
}


def status_for(error: CoveError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(
    status: int, error_id: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"id": error_id, "message": message}, status_code=status, headers=headers)


def response_for(exc: CoveError) -> JSONResponse:
    response = error_response(status_for(exc), exc.id, exc.message)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="Cove"'
    return response


def http_error_response(exc: HTTPException) -> JSONResponse:
    error_id = HTTP_IDS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "error")
    return error_response(exc.status_code, error_id, str(exc.detail), dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    @app.exception_handler(CoveError)
    async def cove_error(_: Request, exc: CoveError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(
            422, "invalid_params", f"Invalid request: {where} {first.get('msg', '')}".strip()
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return http_error_response(exc)
