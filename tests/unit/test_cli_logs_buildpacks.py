"""logs (session body, streamed lines, colour rules) and the buildpacks commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli import logs as cli_logs
from cove.cli.buildpacks import normalise
from cove.cli.context import CliState
from cove.cli.logs import line_style, render_line
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli

LOG_URL = "http://127.0.0.1:5055/log-sessions/abc?sig=x"
LINES = [
    "2026-11-21T10:00:00.000000+00:00 app[web.1]: hello",
    "2026-11-21T10:00:01.000000+00:00 heroku[router]: at=info method=GET path=/",
]


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


class FakeApi:
    def __init__(self, buildpacks: list[str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.buildpacks = list(buildpacks or [])

    def installations(self) -> list[dict[str, Any]]:
        return [
            {"ordinal": i, "buildpack": {"url": url, "name": url}}
            for i, url in enumerate(self.buildpacks)
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/apps/app1/log-sessions":
            return httpx.Response(201, json={"id": "s1", "logplex_url": LOG_URL})
        if path == "/log-sessions/abc":
            return httpx.Response(200, text="\n".join(LINES) + "\n")
        if path == "/apps/app1/buildpack-installations":
            if request.method == "PUT":
                updates = json.loads(request.content)["updates"]
                self.buildpacks = [u["buildpack"] for u in updates]
            return httpx.Response(200, json=self.installations())
        return httpx.Response(404, json={"id": "not_found", "message": "nope"})

    def run(self, args: list[str]) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, [*args, "-a", "app1"], obj=state)


def test_logs_creates_session_and_prints_stream_plainly() -> None:
    api = FakeApi()
    result = api.run(["logs", "-n", "5", "-d", "web.1", "-s", "app"])
    assert result.exit_code == 0, result.output
    session, stream = api.requests
    assert json.loads(session.content) == {
        "lines": 5,
        "tail": False,
        "dyno": "web.1",
        "source": "app",
    }
    assert str(stream.url) == LOG_URL
    assert "Authorization" not in stream.headers
    assert result.stdout == "\n".join(LINES) + "\n"  # no colour codes when not a TTY


class TailUntilReconnected(FakeApi):
    """Ends the first stream (as a server going away does); the user stops the tail once
    the CLI has opened a second session."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        sessions = [r for r in self.requests if r.url.path == "/apps/app1/log-sessions"]
        if len(sessions) == 2 and request.url.path == "/log-sessions/abc":
            raise KeyboardInterrupt
        return super().__call__(request)


def test_logs_tail_and_default_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_logs.time, "sleep", lambda _seconds: None)
    api = TailUntilReconnected()
    result = api.run(["logs", "--tail"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == LINES
    sessions = [r for r in api.requests if r.url.path == "/apps/app1/log-sessions"]
    assert json.loads(sessions[0].content) == {"lines": 100, "tail": True}
    # After the stream ended: a new session, asked for as many lines as were printed.
    assert json.loads(sessions[1].content) == {"lines": 2, "tail": True}


def test_line_style_by_source() -> None:
    assert line_style(LINES[1]) == "blue"
    assert line_style("t app[api]: Release v2 created by user a@b") == "green"
    assert line_style("t heroku[web.1]: State changed from starting to up") == "yellow"
    assert line_style(LINES[0]) == line_style("t app[web.2]: other")  # same type, same colour
    assert line_style("no prefix here") is None


def test_render_line_colours_only_the_prefix() -> None:
    text = render_line("t app[web.1]: hello [bold]not markup[/bold]")
    assert text.plain == "t app[web.1]: hello [bold]not markup[/bold]"
    assert not text.style
    assert [(s.start, s.end, s.style) for s in text.spans] == [(0, 13, line_style(text.plain))]
    assert render_line("plain line").spans == []


def test_buildpacks_listing() -> None:
    assert FakeApi().run(["buildpacks"]).stdout == "⬢ app1 has no Buildpacks.\n"
    result = FakeApi(["heroku/python"]).run(["buildpacks"])
    assert result.stdout.splitlines() == ["=== ⬢ app1 Buildpack URL", "", "heroku/python"]
    result = FakeApi(["a", "b"]).run(["buildpacks"])
    assert result.stdout.splitlines() == ["=== ⬢ app1 Buildpack URLs", "", "1. a", "2. b"]


def test_buildpacks_set_replaces_first_and_puts_list() -> None:
    api = FakeApi(["heroku/nodejs", "heroku/python"])
    result = api.run(["buildpacks:set", "https://example.com/bp.tgz"])
    assert result.exit_code == 0, result.output
    put = api.requests[-1]
    assert put.method == "PUT"
    assert json.loads(put.content) == {
        "updates": [{"buildpack": "https://example.com/bp.tgz"}, {"buildpack": "heroku/python"}]
    }
    assert result.stdout.startswith("Buildpack set. Next release on ⬢ app1 will use:\n")


def test_buildpacks_set_on_empty_app_and_duplicate() -> None:
    api = FakeApi()
    result = api.run(["buildpacks:set", "heroku/python"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "Buildpack set. Next release on ⬢ app1 will use heroku/python."
    )
    again = api.run(["buildpacks:set", "heroku/python"])
    assert again.exit_code == 1
    assert "already set" in again.stderr


def test_buildpacks_add_remove_clear() -> None:
    api = FakeApi(["heroku/python"])
    assert api.run(["buildpacks:add", "-i", "1", "heroku/nodejs"]).exit_code == 0
    assert api.buildpacks == ["heroku/nodejs", "heroku/python"]
    assert api.run(["buildpacks:remove", "heroku/python"]).exit_code == 0
    assert api.buildpacks == ["heroku/nodejs"]
    result = api.run(["buildpacks:clear"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[-1].content) == {"updates": []}
    assert api.buildpacks == []
    assert "will detect buildpacks normally" in result.stdout


def test_buildpacks_index_past_the_end_appends_as_herokus_cli_does() -> None:
    api = FakeApi(["heroku/python"])
    assert api.run(["buildpacks:add", "-i", "5", "heroku/nodejs"]).exit_code == 0
    assert api.buildpacks == ["heroku/python", "heroku/nodejs"]
    assert api.run(["buildpacks:set", "-i", "9", "/srv/bp"]).exit_code == 0
    assert api.buildpacks == ["heroku/python", "heroku/nodejs", "/srv/bp"]
    assert api.run(["buildpacks:set", "-i", "2", "/srv/other"]).exit_code == 0
    assert api.buildpacks == ["heroku/python", "/srv/other", "/srv/bp"]
    for command in ("buildpacks:add", "buildpacks:set"):
        refused = api.run([command, "-i", "0", "/srv/zero"])
        assert refused.exit_code == 1
        assert "Invalid index. Must be greater than 0." in refused.stderr
    assert api.buildpacks == ["heroku/python", "/srv/other", "/srv/bp"]


def test_removing_the_last_buildpack_says_detection_is_back() -> None:
    api = FakeApi(["heroku/python"])
    result = api.run(["buildpacks:remove", "-i", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Buildpack removed. Next release on ⬢ app1 will detect")


def test_local_buildpack_dir_becomes_absolute(tmp_path: Path) -> None:
    (tmp_path / "my-bp").mkdir()
    assert normalise("my-bp") == str((tmp_path / "my-bp").resolve())
    assert normalise("heroku/python") == "heroku/python"
    assert normalise("https://x/y.tgz") == "https://x/y.tgz"
