"""One-off dynos (``cove run``, ``heroku run``): ``POST /apps/{app}/dynos`` and the
window size of an attached one."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.config_vars import validate_changes
from cove.domain.dyno_sizes import DEFAULT_SIZE, parse_size
from cove.domain.errors import InvalidParams, NotFound
from cove.dynos.backend import ONE_OFF_TYPE
from cove.dynos.one_off_dynos import OneOffDynos, RunRequest
from cove.store import Account

router = APIRouter()

_NUMBER: dict[str, Any] = {"type": "number"}
_ENV_VALUE = openapi.one_of(openapi.STRING, _NUMBER)


def _one_offs(request: Request) -> OneOffDynos:
    one_offs = ctx(request).one_off_dynos
    if one_offs is None:  # (an API without the server around it)
        raise InvalidParams("One-off dynos are not available here.")
    return one_offs


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParams(f"{key} must be true or false.")
    return value


def _env(body: Mapping[str, Any]) -> dict[str, str]:
    """``env``: names as config vars have them; strings or numbers (COLUMNS, LINES)."""
    env = params.mapping(body, "env")
    if not env:
        return {}
    for key, value in env.items():
        if value is None or isinstance(value, bool):
            raise InvalidParams(f"env.{key} must be a string or a number.")
    return {k: v for k, v in validate_changes(env).items() if v is not None}


def _time_to_live(body: Mapping[str, Any]) -> float | None:
    value = body.get("time_to_live")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParams("time_to_live must be a number of seconds above 0.")
    return float(value) if math.isfinite(value) else None


def _run_request(body: Mapping[str, Any]) -> RunRequest:
    command = params.text(body, "command")
    if not command or not command.strip():
        raise InvalidParams("command is required.")
    kind = params.text(body, "type") or ONE_OFF_TYPE
    if kind != ONE_OFF_TYPE:
        raise InvalidParams("type must be run: other process types are the formation's.")
    size = params.text(body, "size")
    return RunRequest(
        command=command,
        attach=_flag(body, "attach"),
        tty=not _flag(body, "force_no_tty"),
        env=_env(body),
        size=parse_size(size) if size else DEFAULT_SIZE,
        type=kind,
        time_to_live=_time_to_live(body),
    )


def _attach_host(request: Request) -> str:
    """The host name the client reached the API by (the server's certificate covers it)."""
    host = request.headers.get("host") or request.url.hostname or "127.0.0.1"
    if host.startswith("["):  # [::1]:5055
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@router.post(
    "/apps/{ident}/dynos",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("command",),
            command=openapi.STRING,
            attach=openapi.BOOLEAN,
            force_no_tty=openapi.nullable(openapi.BOOLEAN),
            env=openapi.nullable({"type": "object", "additionalProperties": _ENV_VALUE}),
            size=openapi.nullable(openapi.STRING),
            type=openapi.nullable(openapi.STRING),
            time_to_live=openapi.nullable(_NUMBER),
        ),
        {"command": "bash", "attach": True, "env": {"TERM": "xterm", "COLUMNS": 80, "LINES": 24}},
    ),
)
async def create_dyno(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = await asyncio.to_thread(load_app, request, ident, account)
    run = _run_request(body)
    created = await _one_offs(request).create(app.id, run)
    audit(request, app, account, f"Starting process with command `{run.command}`")
    answer = serializers.dyno(created.row, app, created.release_id)
    if created.secret is not None:
        port = ctx(request).settings.rendezvous_port
        answer["attach_url"] = f"rendezvous://{_attach_host(request)}:{port}/{created.secret}"
    return answer


@router.post(
    "/apps/{ident}/dynos/{dyno}/actions/resize",
    status_code=202,
    openapi_extra=openapi.json_body(
        openapi.obj(("columns", "lines"), columns=openapi.INTEGER, lines=openapi.INTEGER),
        {"columns": 120, "lines": 40},
    ),
)
async def resize_dyno(
    request: Request,
    ident: str,
    dyno: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """Cove's own: an attached dyno's window size follows the client's terminal."""
    app = await asyncio.to_thread(load_app, request, ident, account)
    size = {}
    for key in ("columns", "lines"):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise InvalidParams(f"{key} must be a whole number from 1 to 1000.")
        size[key] = value
    if not _one_offs(request).resize(app.id, dyno, size["columns"], size["lines"]):
        raise NotFound(f"No attached terminal for the dyno {dyno}.")
    return {}
