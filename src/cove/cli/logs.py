"""`cove logs`: open a log session and print its lines (coloured on a terminal)."""

from __future__ import annotations

import re
import zlib

import click
from rich.text import Text

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import console, echo

DEFAULT_LINES = 100
# `2026-11-21T10:00:00.000000+00:00 app[web.1]: message` → prefix, source/type, index, message
LOG_LINE = re.compile(r"^(.*?\[([\w-]+)([\d.]+)?\]:)(.*)?$")
DYNO_COLOURS = ["cyan", "magenta", "blue", "bright_green", "bright_cyan", "bright_magenta"]


def line_style(line: str) -> str | None:
    """The colour of a log line's `source[dyno]:` prefix, or None if it has none."""
    match = LOG_LINE.match(line)
    if not match:
        return None
    prefix, kind = match.group(1), match.group(2)
    if "heroku[router]" in prefix:
        return "blue"
    if kind == "api":
        return "green"
    if " heroku[" in f" {prefix}":
        return "yellow"
    return DYNO_COLOURS[zlib.crc32(kind.encode()) % len(DYNO_COLOURS)]


def render_line(line: str) -> Text:
    match = LOG_LINE.match(line)
    style = line_style(line)
    if not match or not style:
        return Text(line)
    text = Text()
    text.append(match.group(1), style=style)
    text.append(match.group(4) or "")
    return text


@click.command("logs")
@app_options
@click.option("-n", "--num", type=click.IntRange(min=1), default=DEFAULT_LINES, show_default=True)
@click.option("-t", "--tail", is_flag=True, help="continually stream logs")
@click.option("-d", "--dyno", "--dyno-name", "dyno", help="only show output from this dyno/type")
@click.option("-p", "--process-type", help="only show output from this process type")
@click.option("-s", "--source", help="only show output from this source (app or heroku)")
@pass_state
def logs(
    state: CliState,
    app: str,
    num: int,
    tail: bool,
    dyno: str | None,
    process_type: str | None,
    source: str | None,
) -> None:
    """Display recent log output (and keep streaming with --tail)."""
    client = state.client()
    session = client.create_log_session(
        app, lines=num, tail=tail, dyno=dyno or process_type, source=source
    )
    rich_console = console()
    try:
        for line in client.stream_log(session["logplex_url"]):
            if rich_console is None:
                echo(line)
            else:
                rich_console.print(render_line(line))
    except KeyboardInterrupt:
        pass


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(logs, ())]
