"""drains, drains:add, drains:remove against a fake API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.cli_env import FakeApi, isolate_cli

URL = "https://alice:s3cret@logs.example.com/ingest?k=v"
TOKEN = "d.0f1e2d3c-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


def drain(url: str = URL, token: str = TOKEN) -> dict[str, Any]:
    return {
        "id": "4d7b0c2a-0000-4000-8000-000000000009",
        "url": url,
        "token": token,
        "addon": None,
        "app": {"id": "app-id", "name": "my-app"},
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:00:00Z",
    }


def test_drains_lists_url_and_token_under_heroku_header() -> None:
    second = drain("syslog+tls://logs.example.com:6514", "d.second")
    api = FakeApi({("GET", "/apps/my-app/log-drains"): [drain(), second]})
    result = api.run(["drains", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"=== Drains\n\n{URL} ({TOKEN})\nsyslog+tls://logs.example.com:6514 (d.second)\n"
    )


def test_drains_json_is_the_apis_list() -> None:
    api = FakeApi({("GET", "/apps/my-app/log-drains"): [drain()]})
    result = api.run(["drains", "--json", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [drain()]


def test_drains_says_when_there_are_none() -> None:
    api = FakeApi({("GET", "/apps/my-app/log-drains"): []})
    result = api.run(["drains", "-a", "my-app"])
    assert result.exit_code == 0 and result.stdout == "No drains on ⬢ my-app\n"


def test_drains_add_posts_the_url() -> None:
    api = FakeApi({("POST", "/apps/my-app/log-drains"): httpx.Response(201, json=drain())})
    result = api.run(["drains:add", URL, "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Successfully added drain {URL}\n"
    assert api.calls() == [("POST", "/apps/my-app/log-drains", {"url": URL})]


def test_drains_add_reads_the_url_from_stdin_given_a_dash() -> None:
    api = FakeApi({("POST", "/apps/my-app/log-drains"): httpx.Response(201, json=drain())})
    result = api.run(["drains:add", "-", "-a", "my-app"], input=f"{URL}\n")
    assert result.exit_code == 0, result.output
    assert api.calls() == [("POST", "/apps/my-app/log-drains", {"url": URL})]


def test_drains_add_with_nothing_on_stdin_fails_before_calling_the_api() -> None:
    api = FakeApi()
    result = api.run(["drains:add", "-", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "No drain URL on stdin" in result.stderr and api.calls() == []


def test_drains_add_shows_the_apis_refusal() -> None:
    refusal = httpx.Response(
        422,
        json={
            "id": "invalid_params",
            "message": "Url is invalid: a syslog drain needs a port (syslog://host:port).",
        },
    )
    api = FakeApi({("POST", "/apps/my-app/log-drains"): refusal})
    result = api.run(["drains:add", "syslog://logs.example.com", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stderr == (
        " ▸    Url is invalid: a syslog drain needs a port (syslog://host:port).\n"
        " ▸    Error ID: invalid_params\n"
    )


def test_drains_remove_sends_the_url_whole_in_one_path_segment() -> None:
    def delete(request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode()
        assert raw == "/apps/my-app/log-drains/" + (
            "https%3A%2F%2Falice%3As3cret%40logs.example.com%2Fingest%3Fk%3Dv"
        )
        return httpx.Response(200, json=drain())

    api = FakeApi()
    api.routes[("DELETE", f"/apps/my-app/log-drains/{URL}")] = delete
    result = api.run(["drains:remove", URL, "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Successfully removed drain {URL}\n"


def test_drains_remove_by_token() -> None:
    api = FakeApi({("DELETE", f"/apps/my-app/log-drains/{TOKEN}"): drain()})
    result = api.run(["drains:remove", TOKEN, "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Successfully removed drain {URL}\n"


def test_drains_remove_of_an_unknown_drain_fails() -> None:
    missing = httpx.Response(
        404, json={"id": "not_found", "message": "Couldn't find that log drain."}
    )
    api = FakeApi({("DELETE", "/apps/my-app/log-drains/d.nope"): missing})
    result = api.run(["drains:remove", "d.nope", "-a", "my-app"])
    assert result.exit_code == 1
    assert "Couldn't find that log drain." in result.stderr


def test_drains_need_an_app() -> None:
    result = FakeApi().run(["drains"])
    assert result.exit_code == 1 and "No app specified" in result.stderr
