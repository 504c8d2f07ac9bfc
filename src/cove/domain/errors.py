"""Domain errors. They carry Heroku's error ``id`` and a message, never an HTTP status:
the API maps them to statuses in one place (``cove.api.errors``)."""

from __future__ import annotations


class CoveError(Exception):
    id = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CoveError):
    id = "not_found"


class InvalidParams(CoveError):
    id = "invalid_params"


class Conflict(CoveError):
    id = "conflict"


class NameTaken(InvalidParams):
    # Heroku answers a taken app name with 422 invalid_params "Name is already taken"
    # (heroku3 matches on that text).
    pass


class Unauthorized(CoveError):
    id = "unauthorized"


class Forbidden(CoveError):
    id = "forbidden"
