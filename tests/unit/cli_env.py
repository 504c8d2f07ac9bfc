"""Support for CLI unit tests: the environment they run in (an empty HOME, no system git
config, a fake token, no COVE_* or tool settings leaking in from the developer's shell)
and a fake API answering routes through httpx's MockTransport."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cove import tls
from cove.cli.context import CliState
from cove.cli.main import cli


def isolate_cli(monkeypatch: pytest.MonkeyPatch, home: Path, cwd: Path | None = None) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(home))
    monkeypatch.setenv("COVE_API_KEY", "tok")
    for name in ("COVE_APP", "COVE_API_URL", "PGPASSWORD", "REDISCLI_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(cwd or home)


def server_ca(home: Path) -> Path:
    """Cove's CA in the test's server home beside ``home`` (the one the CLI finds)."""
    files = tls.TlsFiles(home.parent / "server-home" / "tls")
    tls.ensure_ca(files)
    return files.ca_cert


@contextmanager
def cli_in_utc(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[None]:
    """``isolate_cli``, with times in the output rendered in UTC (the C library reads TZ
    again on the way in and, once the environment is restored, on the way out)."""
    isolate_cli(monkeypatch, home)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


Route = Any  # a JSON body (200), an httpx.Response, or a request -> response callable
NOT_FOUND = httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that add-on."})


class FakeApi:
    """Answers `(method, path)` routes; anything else is a 404. Records every request."""

    def __init__(self, routes: dict[tuple[str, str], Route] | None = None) -> None:
        self.routes = dict(routes or {})
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return NOT_FOUND
        if isinstance(route, httpx.Response):
            return route
        if callable(route):
            response: httpx.Response = route(request)
            return response
        return httpx.Response(200, json=route)

    def run(self, args: list[str], **kwargs: Any) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, args, obj=state, **kwargs)

    def calls(self) -> list[tuple[str, str, Any]]:
        return [
            (r.method, r.url.path, json.loads(r.content) if r.content else None)
            for r in self.requests
        ]

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]


def created(body: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(201, json=body)
