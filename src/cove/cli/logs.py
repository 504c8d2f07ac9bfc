"""`cove logs`: open a log session and print its lines (coloured on a terminal)."""

from __future__ import annotations

import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, console, echo
from cove.client import ApiConnectionError, ApiError
from cove.client.types import LogSession

if TYPE_CHECKING:  # (rich is imported where a terminal gets colours: cove.cli.output)
    from rich.console import Console
    from rich.text import Text

DEFAULT_LINES = 100
HISTORY = 1500  # the most lines a log session gives back (Logplex's window)
# A tail whose stream ends or breaks (the server restarted) opens a new session: it keeps
# trying this long, waiting a little longer each time, up to the longest wait.
RECONNECT_FOR = 300.0
RETRY_FIRST = 0.1
RETRY_LONGEST = 2.0
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
    from rich.text import Text

    match = LOG_LINE.match(line)
    style = line_style(line)
    if not match or not style:
        return Text(line)
    text = Text()
    text.append(match.group(1), style=style)
    text.append(match.group(4) or "")
    return text


class Resume:
    """Which lines of a new session are new to a reader who already printed ``printed``.

    The session is asked for ``len(printed)`` lines: its first lines are then the end of
    what was printed, followed by what came since. Lines carry timestamps to the
    microsecond, but lines from one read of a process's output share theirs, so the
    match is on a run of lines: the longest start of the stream equal to the end of
    ``printed`` is skipped. Without such a run (the server lost lines in a crash), lines
    up to the last printed one's time are skipped."""

    def __init__(self, printed: Sequence[str]) -> None:
        self.printed = list(printed)
        self.buffer: list[str] = []
        self.candidates: list[int] = []  # where in printed the stream may have started
        self.matched = 0
        self.done = not self.printed
        self.after: str | None = None  # while set: skip lines not newer than this time

    def feed(self, line: str) -> list[str]:
        """The lines to print now that ``line`` arrived."""
        if self.done:
            return self._newer([line])
        seen = len(self.buffer)
        self.buffer.append(line)
        if seen == 0:
            self.candidates = [m for m, old in enumerate(self.printed) if old == line]
        else:
            self.candidates = [m for m in self.candidates if self.printed[m + seen] == line]
        end = len(self.printed) - 1
        if any(m + seen == end for m in self.candidates):
            self.matched = seen + 1
        self.candidates = [m for m in self.candidates if m + seen < end]
        if self.candidates:
            return []  # a longer run may still match
        self.done = True
        if not self.matched:
            self.after = _timestamp(self.printed[-1])
        return self._newer(self.buffer[self.matched :])

    def _newer(self, lines: list[str]) -> list[str]:
        if self.after is None:
            return lines
        for i, line in enumerate(lines):
            if _timestamp(line) > self.after:
                self.after = None
                return lines[i:]
        return []


def _timestamp(line: str) -> str:
    return line.split(" ", 1)[0]  # Logplex's fixed-width UTC time: compares as text


class _Printer:
    """Prints log lines and remembers the last ones printed (what a reconnection skips)."""

    def __init__(self, rich_console: Console | None) -> None:
        self.console = rich_console
        self.printed: deque[str] = deque(maxlen=HISTORY)

    def __call__(self, line: str) -> None:
        if self.console is None:
            echo(line)
        else:
            self.console.print(render_line(line))
        self.printed.append(line)


def _retryable(exc: Exception) -> bool:
    """A server that is away or starting, not one that refuses (the app is gone, the
    token was revoked: those are the command's error)."""
    return isinstance(exc, ApiConnectionError) or (isinstance(exc, ApiError) and exc.status >= 500)


def tail_through_restarts(
    open_session: Callable[[int], LogSession],
    stream: Callable[[str], Iterator[str]],
    lines: int,
    printer: _Printer,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Print a tail session's lines; when the stream ends or breaks, open a new session
    (the old URL was the capability of a server that may be gone) and go on from the
    last line printed."""
    delay = RETRY_FIRST
    deadline: float | None = None
    announced = False
    resume: Resume | None = None
    failure = ""
    while True:
        try:
            session = open_session((len(printer.printed) or lines) if resume else lines)
            deadline = None  # the server answers again
            for line in stream(session["logplex_url"]):
                delay, announced = RETRY_FIRST, False
                for new in resume.feed(line) if resume else [line]:
                    printer(new)
            failure = "the server ended the log stream"
        except (ApiConnectionError, ApiError) as exc:
            if not _retryable(exc):
                raise
            failure = str(exc)
        now = time.monotonic()
        if not announced:
            click.secho("Log stream interrupted; reconnecting...", err=True, dim=True)
            announced = True
        if deadline is None:
            deadline = now + RECONNECT_FOR
        elif now >= deadline:
            raise CliError(
                f"Lost the log stream and could not reconnect for {RECONNECT_FOR:.0f} seconds: "
                f"{failure}"
            )
        (sleep or time.sleep)(delay)
        delay = min(delay * 2, RETRY_LONGEST)
        resume = Resume(printer.printed)


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
    """Display recent log output (and keep streaming with --tail, through server restarts)."""
    client = state.client()

    def open_session(lines: int) -> LogSession:
        return client.create_log_session(
            app, lines=lines, tail=tail, dyno=dyno or process_type, source=source
        )

    printer = _Printer(console())
    try:
        if tail:
            tail_through_restarts(open_session, client.stream_log, num, printer)
        else:
            for line in client.stream_log(open_session(num)["logplex_url"]):
                printer(line)
    except KeyboardInterrupt:
        pass


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(logs, ())]
