"""config, config:get, config:set, config:unset against a fake API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


class FakeConfigApi:
    def __init__(self, config: dict[str, str], version: int = 7) -> None:
        self.config = dict(config)
        self.version = version
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/apps/app1/config-vars" and request.method == "GET":
            return httpx.Response(200, json=self.config)
        if path == "/apps/app1/config-vars" and request.method == "PATCH":
            for key, value in json.loads(request.content).items():
                if value is None:
                    self.config.pop(key, None)
                else:
                    self.config[key] = value
            self.version += 1
            return httpx.Response(200, json=self.config)
        if path == "/apps/app1/releases":
            releases = [{"version": v} for v in range(self.version, 0, -1)]
            return httpx.Response(200, json=releases[:1])
        return httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that app."})

    def run(self, args: list[str]) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, [*args, "-a", "app1"], obj=state)


@pytest.mark.parametrize(
    ("args", "bad"),
    [(["FOO"], "FOO"), (["A=1", "=x"], "=x"), (["A=1", "BROKEN"], "BROKEN")],
)
def test_config_set_rejects_malformed_args_before_any_request(args: list[str], bad: str) -> None:
    api = FakeConfigApi({})
    result = api.run(["config:set", *args])
    assert result.exit_code == 2
    assert f"{bad} is invalid. Must be in the format FOO=bar." in result.stderr
    assert api.requests == []


def test_config_set_without_args_is_a_usage_error() -> None:
    api = FakeConfigApi({})
    result = api.run(["config:set"])
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr
    assert api.requests == []


def test_config_set_patches_and_reports_new_release() -> None:
    api = FakeConfigApi({"OLD": "x"}, version=6)
    result = api.run(["config:set", "FOO=bar", "URL=postgres://u:p@h/db?a=b", "EMPTY="])
    assert result.exit_code == 0, result.output
    patch, releases = api.requests
    assert patch.method == "PATCH"
    assert json.loads(patch.content) == {
        "FOO": "bar",
        "URL": "postgres://u:p@h/db?a=b",
        "EMPTY": "",
    }
    assert releases.headers["Range"] == "version ..; max=1, order=desc"
    assert result.stdout.splitlines() == [
        "Setting FOO, URL, EMPTY and restarting ⬢ app1... done, v7",
        "FOO:   bar",
        "URL:   postgres://u:p@h/db?a=b",
        "EMPTY:",
    ]


def test_config_unset_sends_nulls() -> None:
    api = FakeConfigApi({"A": "1", "B": "2", "C": "3"}, version=3)
    result = api.run(["config:unset", "A", "B"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content) == {"A": None, "B": None}
    assert result.stdout == "Unsetting A, B and restarting ⬢ app1... done, v4\n"
    assert api.config == {"C": "3"}


def test_config_lists_aligned_sorted() -> None:
    api = FakeConfigApi({"LONG_NAME": "v1", "A": "two words"})
    result = api.run(["config"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== app1 Config Vars",
        "",
        "A:         two words",
        "LONG_NAME: v1",
    ]


def test_config_shell_and_json() -> None:
    api = FakeConfigApi({"B": "it's", "A": "plain"})
    result = api.run(["config", "--shell"])
    assert result.stdout.splitlines() == ["A=plain", "B='it'\"'\"'s'"]
    result = api.run(["config", "--json"])
    assert json.loads(result.stdout) == {"A": "plain", "B": "it's"}


def test_config_get_existing_and_missing() -> None:
    api = FakeConfigApi({"A": "value"})
    result = api.run(["config:get", "A"])
    assert (result.exit_code, result.stdout) == (0, "value\n")
    result = api.run(["config:get", "MISSING"])
    assert (result.exit_code, result.stdout) == (0, "\n")
