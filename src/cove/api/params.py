"""Fields of a JSON request body, checked for their type: a wrong one is Heroku's
``invalid_params`` naming the field, never a crash further in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cove.domain.errors import InvalidParams


def text(body: Mapping[str, Any], key: str, where: str = "") -> str | None:
    """An optional string (``where`` prefixes the name of a nested field: ``"from."``)."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidParams(f"{where}{key} must be a string.")


def required_text(body: Mapping[str, Any], key: str, where: str = "") -> str:
    value = text(body, key, where)
    if not value:
        raise InvalidParams(f"{where}{key} is required.")
    return value


def mapping(body: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """An optional object (``{}`` when absent)."""
    value = body.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise InvalidParams(f"{where}{key} must be an object.")


def objects(body: Mapping[str, Any], key: str, example: str) -> list[dict[str, Any]]:
    """A required list of objects, such as formation ``updates``."""
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidParams(f"{key} must be a list of {example}.")
    return value


def integer(body: Mapping[str, Any], key: str, default: int) -> int:
    """An optional whole number; numeric strings are taken, as clients send them."""
    value = body.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise InvalidParams(f"{key} must be a number.")
    try:
        number = int(value)
    except (ValueError, OverflowError):  # "x", NaN, Infinity
        raise InvalidParams(f"{key} must be a number.") from None
    return number
