"""maintenance, maintenance:on, maintenance:off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


class FakeApi:
    """One app, ``my-app``, whose ``maintenance`` flag GET shows and PATCH sets."""

    def __init__(self, maintenance: bool = False) -> None:
        self.maintenance = maintenance
        self.requests: list[httpx.Request] = []

    def app(self) -> dict[str, Any]:
        return {"id": "id-my-app", "name": "my-app", "maintenance": self.maintenance}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != "/apps/my-app":
            return httpx.Response(
                404, json={"id": "not_found", "message": "Couldn't find that app."}
            )
        if request.method == "PATCH":
            self.maintenance = json.loads(request.content)["maintenance"]
        return httpx.Response(200, json=self.app())

    def run(self, args: list[str]) -> Result:
        return CliRunner().invoke(cli, args, obj=CliState(transport=httpx.MockTransport(self)))

    def calls(self) -> list[tuple[str, str, Any]]:
        return [
            (r.method, r.url.path, json.loads(r.content) if r.content else None)
            for r in self.requests
        ]


@pytest.mark.parametrize(("flag", "shown"), [(False, "off"), (True, "on")])
def test_maintenance_prints_on_or_off(flag: bool, shown: str) -> None:
    api = FakeApi(maintenance=flag)
    result = api.run(["maintenance", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{shown}\n"
    assert api.calls() == [("GET", "/apps/my-app", None)]


def test_maintenance_on_patches_the_app() -> None:
    api = FakeApi()
    result = api.run(["maintenance:on", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Enabling maintenance mode for ⬢ my-app... done\n"
    assert api.calls() == [("PATCH", "/apps/my-app", {"maintenance": True})]
    assert api.run(["maintenance", "-a", "my-app"]).stdout == "on\n"


def test_maintenance_off_patches_the_app() -> None:
    api = FakeApi(maintenance=True)
    result = api.run(["maintenance:off", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Disabling maintenance mode for ⬢ my-app... done\n"
    assert api.calls() == [("PATCH", "/apps/my-app", {"maintenance": False})]
    assert api.run(["maintenance", "-a", "my-app"]).stdout == "off\n"


def test_unknown_app_is_an_error() -> None:
    api = FakeApi()
    result = api.run(["maintenance:on", "-a", "nope"])
    assert result.exit_code == 1
    assert result.stdout == "Enabling maintenance mode for ⬢ nope... !\n"
    assert "Couldn't find that app." in result.stderr


def test_app_is_required() -> None:
    result = FakeApi().run(["maintenance"])
    assert result.exit_code == 1
    assert "No app specified" in result.stderr
