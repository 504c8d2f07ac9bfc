"""`cove drains`, `drains:add URL` and `drains:remove URL|TOKEN`: where an app's log is
also sent (syslog over TCP or TLS, or HTTP(S) POSTs), as the Heroku CLI's commands.

A drain URL may hold credentials, and a command line is visible to every user of the
machine (``ps``): ``-`` in place of the URL reads it from stdin."""

from __future__ import annotations

import json
import sys

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, app_label, console, echo, header
from cove.client.types import LogDrain

FROM_STDIN = "-"


def drain_line(drain: LogDrain) -> str:
    return f"{drain['url']} ({drain['token']})"


def _show(drain: LogDrain) -> None:
    rich_console = console()
    if rich_console is None:
        echo(drain_line(drain))
        return
    from rich.text import Text  # (a terminal's colours only)

    text = Text()
    text.append(drain["url"], style="cyan")
    text.append(" (")
    text.append(drain["token"], style="green")
    text.append(")")
    rich_console.print(text)


def _argument(value: str) -> str:
    """The URL or token as given, or (``-``) the first line of stdin."""
    if value != FROM_STDIN:
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise CliError("No drain URL on stdin (give it as the first line).")
    return line


@click.command("drains")
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def drains_list(state: CliState, app: str, as_json: bool) -> None:
    """Display the log drains of an app."""
    drains = state.client().list_log_drains(app)
    if as_json:
        echo(json.dumps(drains, indent=2))
        return
    if not drains:
        echo(f"No drains on {app_label(app)}")
        return
    header("Drains")
    for drain in drains:
        _show(drain)


@click.command("drains:add")
@click.argument("url")
@app_options
@pass_state
def drains_add(state: CliState, app: str, url: str) -> None:
    """Add a log drain: syslog://HOST:PORT, syslog+tls://HOST:PORT or an http(s):// URL
    (`-` reads the URL from stdin)."""
    drain = state.client().create_log_drain(app, _argument(url))
    echo(f"Successfully added drain {drain['url']}")


@click.command("drains:remove")
@click.argument("url_or_token", metavar="URL|TOKEN")
@app_options
@pass_state
def drains_remove(state: CliState, app: str, url_or_token: str) -> None:
    """Remove a log drain, named by its URL or its token (d.<uuid>; `-` reads it from
    stdin)."""
    drain = state.client().delete_log_drain(app, _argument(url_or_token))
    echo(f"Successfully removed drain {drain['url']}")


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (drains_list, ()),
    (drains_add, ()),
    (drains_remove, ()),
]
