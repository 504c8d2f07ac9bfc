"""The one place errors become HTTP responses: Heroku's ``{"id", "message"}`` for every
status, whether the error is a domain error, a request FastAPI could not parse, an HTTP
condition (unknown path, wrong method, a body too large) or a bug."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
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
    415: "unsupported_media_type",
    422: "invalid_params",
}


class Error(BaseModel):
    """An error body (the OpenAPI schema of every 4xx and 5xx answer)."""

    id: str
    message: str


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


def validation_message(problem: dict[str, Any]) -> tuple[int, str, str]:
    """Status, id and message for the first thing FastAPI found wrong with a request.
    Cove's routes take their bodies as JSON objects and check each field themselves, so
    what is left here is the body as a whole."""
    kind = problem.get("type", "")
    if kind == "json_invalid":
        reason = (problem.get("ctx") or {}).get("error", "")
        where = problem.get("loc", ("body", 0))[-1]
        return (
            400,
            "bad_request",
            f"The request body is not valid JSON: {reason} at character {where}.",
        )
    if kind == "missing":
        return 422, "invalid_params", "The request needs a JSON object as its body."
    if kind in ("dict_type", "model_type"):
        return (
            422,
            "invalid_params",
            "The request body must be a JSON object (Content-Type: application/json).",
        )
    where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
    message = f"Invalid request: {where} {problem.get('msg', '')}".replace("  ", " ")
    return 422, "invalid_params", message.strip()


def install(app: FastAPI) -> None:
    @app.exception_handler(CoveError)
    async def cove_error(_: Request, exc: CoveError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        return error_response(*validation_message(problems[0] if problems else {}))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises it afterwards, so the traceback reaches the server log.
        return error_response(
            500,
            "internal_server_error",
            f"Cove could not answer {request.method} {request.url.path}: an internal error "
            "(details are in the server's log).",
        )
