"""What the OpenAPI schema (``/openapi.json``) says about bodies FastAPI can't see.

Routes take their JSON bodies as plain objects and check each field themselves (Heroku's
clients are lenient about types: a quantity may be ``"+1"``), so the fields are described
here, for client authors and for the fuzz test that generates requests from the schema.
"""

from __future__ import annotations

from typing import Any

STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def one_of(*schemas: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": list(schemas)}


def obj(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def json_body(
    schema: dict[str, Any], example: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is a JSON object."""
    return {
        "requestBody": {
            "required": not optional,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def binary_body(media_type: str = "application/octet-stream") -> dict[str, Any]:
    """``openapi_extra`` for a route that streams a raw body."""
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def streamed(*media_types: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses`` for a route that streams text or bytes rather than JSON."""
    content = {media: {"schema": {"type": "string"}} for media in media_types}
    return {200: {"description": description, "content": content}}
