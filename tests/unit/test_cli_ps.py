"""ps output, ps:scale parsing/requests/output, ps:restart targets, Heroku time format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState
from cove.cli.main import cli
from cove.cli.output import format_time
from cove.cli.ps import parse_scale_args, ps_lines
from tests.unit.cli_env import cli_in_utc

OLD = "2020-04-05T17:44:47Z"  # > 25h ago: no relative part


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_in_utc(monkeypatch, tmp_path):
        yield


def dyno(name: str, state: str = "up", command: str = "gunicorn app:app", **kw: Any) -> Any:
    return {
        "id": name,
        "name": name,
        "type": name.split(".")[0],
        "command": command,
        "size": kw.get("size", "Standard-1X"),
        "state": state,
        "updated_at": kw.get("updated_at", OLD),
    }


class FakeApi:
    def __init__(self, responses: dict[tuple[str, str], Any]) -> None:
        self.responses = responses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key not in self.responses:
            return httpx.Response(404, json={"id": "not_found", "message": f"no {key}"})
        body = self.responses[key]
        return httpx.Response(202) if body is None else httpx.Response(200, json=body)

    def run(self, args: list[str]) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, [*args, "-a", "app1"], obj=state)


def test_format_time_relative_parts() -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    assert format_time("2026-11-21T09:55:00Z", now) == "2026/11/21 09:55:00 +0000 (~ 5m ago)"
    assert format_time("2026-11-21T09:59:30Z", now) == "2026/11/21 09:59:30 +0000 (~ 30s ago)"
    assert format_time("2026-11-20T10:00:00+00:00", now) == "2026/11/20 10:00:00 +0000 (~ 24h ago)"
    assert format_time("2026-11-19T10:00:00Z", now) == "2026/11/19 10:00:00 +0000"
    assert format_time("2026-11-21T10:00:05Z", now).endswith("(~ 0s ago)")


def test_ps_lines_group_by_type_in_heroku_format() -> None:
    dynos = [
        dyno("worker.1", command="python worker.py"),
        dyno("web.10", state="crashed"),
        dyno("web.2", state="starting"),
        dyno("web.1"),
        dyno("run.4821", command="bash", size="Basic"),
    ]
    assert ps_lines(dynos) == [
        "=== run: one-off processes (1)",
        "",
        "run.4821 (Basic): up 2020/04/05 17:44:47 +0000: bash",
        "",
        "=== web (Standard-1X): gunicorn app:app (3)",
        "",
        "web.1: up 2020/04/05 17:44:47 +0000",
        "web.2: starting 2020/04/05 17:44:47 +0000",
        "web.10: crashed 2020/04/05 17:44:47 +0000",
        "",
        "=== worker (Standard-1X): python worker.py (1)",
        "",
        "worker.1: up 2020/04/05 17:44:47 +0000",
    ]


def test_ps_command_prints_dynos() -> None:
    api = FakeApi({("GET", "/apps/app1/dynos"): [dyno("web.1")]})
    result = api.run(["ps"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "=== web (Standard-1X): gunicorn app:app (1)\n\nweb.1: up 2020/04/05 17:44:47 +0000\n"
    )
    result = FakeApi({("GET", "/apps/app1/dynos"): []}).run(["ps"])
    assert result.stdout == "No dynos on ⬢ app1\n"


def test_parse_scale_args() -> None:
    assert parse_scale_args(("web=2", "worker+1", "clock-1", "web=0:Standard-2X")) == [
        {"type": "web", "quantity": 2},
        {"type": "worker", "quantity": "+1"},
        {"type": "clock", "quantity": "-1"},
        {"type": "web", "quantity": 0, "size": "Standard-2X"},
    ]
    for bad in ("web", "web=", "web=two", "=2", "web=2:"):
        with pytest.raises(click.UsageError):
            parse_scale_args((bad,))


def test_ps_scale_sends_updates_and_reports() -> None:
    formation = [
        {"type": "web", "quantity": 2, "size": "Standard-1X"},
        {"type": "worker", "quantity": 1, "size": "Standard-2X"},
    ]
    api = FakeApi({("PATCH", "/apps/app1/formation"): formation})
    result = api.run(["ps:scale", "web=2", "worker+1:Standard-2X"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content) == {
        "updates": [
            {"type": "web", "quantity": 2},
            {"type": "worker", "quantity": "+1", "size": "Standard-2X"},
        ]
    }
    assert result.stdout == (
        "Scaling dynos... done, now running web at 2:Standard-1X, worker at 1:Standard-2X\n"
    )


def test_ps_scale_without_args_prints_formation() -> None:
    formation = [
        {"type": "worker", "quantity": 0, "size": "Standard-1X"},
        {"type": "web", "quantity": 1, "size": "Standard-1X"},
    ]
    result = FakeApi({("GET", "/apps/app1/formation"): formation}).run(["ps:scale"])
    assert (result.exit_code, result.stdout) == (0, "web=1:Standard-1X worker=0:Standard-1X\n")
    result = FakeApi({("GET", "/apps/app1/formation"): []}).run(["ps:scale"])
    assert result.exit_code == 1
    assert "No process types on ⬢ app1." in result.stderr


@pytest.mark.parametrize(
    ("args", "path", "message"),
    [
        ([], "/apps/app1/dynos", "Restarting dynos on ⬢ app1... done"),
        (["web"], "/apps/app1/formations/web", "Restarting web dynos on ⬢ app1... done"),
        (["web.1"], "/apps/app1/dynos/web.1", "Restarting dyno web.1 on ⬢ app1... done"),
        (["-p", "worker"], "/apps/app1/formations/worker", "Restarting worker dynos on ⬢ app1"),
        (["-d", "web.2"], "/apps/app1/dynos/web.2", "Restarting dyno web.2 on ⬢ app1... done"),
    ],
)
def test_ps_restart_targets(args: list[str], path: str, message: str) -> None:
    api = FakeApi({("DELETE", path): None})
    result = api.run(["ps:restart", *args])
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url.path) for r in api.requests] == [("DELETE", path)]
    assert result.stdout.startswith(message)


def test_ps_lines_show_memory_when_cove_reports_it() -> None:
    busy = dyno("web.1") | {"memory_usage": 45 * 1024 * 1024, "memory_quota": 512 * 1024 * 1024}
    unknown = dyno("web.2") | {"memory_usage": None, "memory_quota": 512 * 1024 * 1024}
    lines = ps_lines([busy, unknown])
    assert "web.1: up 2020/04/05 17:44:47 +0000  mem=45MB(8.8%)" in lines
    assert "web.2: up 2020/04/05 17:44:47 +0000" in lines


def test_ps_type_shows_and_changes_sizes() -> None:
    formation = [
        {"type": "worker", "quantity": 0, "size": "Standard-1X"},
        {"type": "web", "quantity": 2, "size": "Standard-2X"},
    ]
    api = FakeApi(
        {("GET", "/apps/app1/formation"): formation, ("PATCH", "/apps/app1/formation"): formation}
    )
    result = api.run(["ps:type"])
    assert result.exit_code == 0
    assert "web     Standard-2X  2" in result.stdout
    result = api.run(["ps:type", "web=standard-2x", "worker=performance-m"])
    assert result.exit_code == 0, result.output
    assert "Scaling dynos on ⬢ app1... done" in result.output
    patch = next(r for r in api.requests if r.method == "PATCH")
    assert json.loads(patch.content) == {
        "updates": [
            {"type": "web", "size": "standard-2x"},
            {"type": "worker", "size": "performance-m"},
        ]
    }
    api.requests.clear()
    assert api.run(["ps:resize", "standard-2x"]).exit_code == 0  # one size for every type
    patch = next(r for r in api.requests if r.method == "PATCH")
    assert {u["type"] for u in json.loads(patch.content)["updates"]} == {"web", "worker"}


def test_ps_type_rejects_malformed_arguments() -> None:
    result = FakeApi({}).run(["ps:type", "web=", "worker=basic"])
    assert result.exit_code == 2
    assert "Invalid argument 'web='" in result.output
