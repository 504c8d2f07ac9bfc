"""How failures look: API error bodies, unreachable servers, usage errors; never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState
from cove.cli.main import cli
from cove.cli.output import format_error
from tests.unit.cli_env import isolate_cli


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


def run(args: list[str], handler: Callable[[httpx.Request], httpx.Response]) -> Result:
    state = CliState(transport=httpx.MockTransport(handler))
    return CliRunner().invoke(cli, args, obj=state)


def test_format_error() -> None:
    assert format_error("Boom.") == " ▸    Boom."
    assert format_error("Line one\nLine two", "bad") == (
        " ▸    Line one\n ▸    Line two\n ▸    Error ID: bad"
    )


def test_api_error_body_is_printed_with_its_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that app."})

    result = run(["apps:info", "-a", "ghost"], handler)
    assert result.exit_code == 1
    assert result.stderr == " ▸    Couldn't find that app.\n ▸    Error ID: not_found\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_api_error_inside_an_action_marks_it_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422, json={"id": "invalid_params", "message": "Name is already taken"}
        )

    result = run(["apps:create", "taken", "--no-remote"], handler)
    assert result.exit_code == 1
    assert result.stdout == "Creating ⬢ taken... !\n"
    assert "Name is already taken" in result.stderr
    assert "Error ID: invalid_params" in result.stderr


def test_connection_error_names_the_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_API_URL", "http://127.0.0.1:5999")

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = run(["apps"], handler)
    assert result.exit_code == 1
    assert "Could not connect to the Cove API at http://127.0.0.1:5999" in result.stderr
    assert "Connection refused" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_usage_errors_exit_2() -> None:
    result = run(["ps:scale", "web=lots", "-a", "x"], lambda r: httpx.Response(500))
    assert result.exit_code == 2
    assert "Invalid argument 'web=lots'" in result.stderr
    result = run(["no-such-command"], lambda r: httpx.Response(500))
    assert result.exit_code == 2


def test_aliases_resolve_to_topic_commands() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202)

    result = run(["restart", "-a", "x"], handler)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Restarting dynos on ⬢ x... done\n"
    help_text = run(["--help"], handler).stdout
    assert "ps:restart" in help_text
    assert "\n  restart " not in help_text  # aliases are hidden from the listing
