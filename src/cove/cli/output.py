"""Printing helpers shared by the CLI topics: headers, aligned objects, times, errors.

Colour (through rich) is used only when stdout is a terminal; otherwise output is plain text,
and rich isn't even imported (~25 ms of every command's start).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

ERROR_PREFIX = " ▸    "


class CliError(click.ClickException):
    """An expected failure: printed Heroku-style (` ▸    message`) on stderr, exit status 1."""

    def __init__(self, message: str, error_id: str | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(format_error(self.message, self.error_id), file=file, err=file is None)


def format_error(message: str, error_id: str | None = None) -> str:
    lines = [f"{ERROR_PREFIX}{line}".rstrip() for line in message.splitlines() or [""]]
    if error_id:
        lines.append(f"{ERROR_PREFIX}Error ID: {error_id}")
    return "\n".join(lines)


def app_label(name: str) -> str:
    return f"⬢ {name}"


def console() -> Console | None:
    """A rich console on stdout when it is a terminal, else None (plain output)."""
    if not is_tty():
        return None
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def echo(message: str = "", *, nl: bool = True) -> None:
    click.echo(message, nl=nl)


def echo_styled(message: str, style: str | None) -> None:
    rich_console = console()
    if rich_console is None or not style:
        click.echo(message)
    else:
        from rich.text import Text

        rich_console.print(Text(message, style=style))


def warn(message: str) -> None:
    click.echo(f"{ERROR_PREFIX}{message}", err=True)


def header(title: str) -> None:
    """`=== title` followed by a blank line, as the Heroku CLI's styled header."""
    rich_console = console()
    if rich_console is None:
        click.echo(f"=== {title}")
    else:
        from rich.text import Text

        text = Text()
        text.append("=== ", style="dim")
        text.append(title, style="bold")
        rich_console.print(text)
    click.echo()


def align_object(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Lines `Key:   value` with the values aligned one space after the longest `Key:`."""
    if not pairs:
        return []
    width = max(len(key) for key, _ in pairs) + 1
    return [f"{(key + ':').ljust(width)} {value}".rstrip() for key, value in pairs]


def styled_object(pairs: Sequence[tuple[str, str]]) -> None:
    for line in align_object(pairs):
        click.echo(line)


def table(rows: Sequence[Sequence[str]], gap: int = 2) -> list[str]:
    """Left-aligned columns separated by `gap` spaces (no trailing spaces)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((" " * gap).join(cells).rstrip())
    return lines


class ActionStatus:
    """What an `action()` block reports after `done`, e.g. `v5`."""

    def __init__(self) -> None:
        self.detail: str | None = None


@contextmanager
def action(message: str) -> Iterator[ActionStatus]:
    """Print `message... done[, detail]`, or `message... !` if the block raises."""
    click.echo(f"{message}... ", nl=False)
    status = ActionStatus()
    try:
        yield status
    except BaseException:
        click.echo("!")
        raise
    click.echo("done" if not status.detail else f"done, {status.detail}")


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 timestamp as the API returns it (`...Z` or with an offset)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_time(value: str, now: datetime | None = None) -> str:
    """`2026/11/21 10:00:00 +0000 (~ 5m ago)` in local time; the relative part only if < 25h."""
    try:
        moment = parse_time(value)
    except ValueError:
        return value
    local = moment.astimezone()
    text = local.strftime("%Y/%m/%d %H:%M:%S %z")
    current = now or datetime.now(UTC)
    elapsed = int((current - moment).total_seconds())
    if elapsed <= 0:
        return f"{text} (~ 0s ago)"
    if elapsed < 60:
        return f"{text} (~ {elapsed}s ago)"
    if elapsed < 60 * 60:
        return f"{text} (~ {elapsed // 60}m ago)"
    if elapsed < 60 * 60 * 25:
        return f"{text} (~ {elapsed // 3600}h ago)"
    return text


def format_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - loop always returns


def is_tty() -> bool:
    """Whether stdout is a terminal (colour and prompts are only used then)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def require_confirmation(app: str, confirm: str | None, *, refusal: str, prompt: str) -> None:
    """Refuse a destructive command unless `--confirm APP` (or, on a terminal, typing the
    app name) matches `app`: ``prompt`` is said on a terminal, ``refusal`` when there is no
    `--confirm`. Call it before any request is sent."""
    if confirm is None and sys.stdin.isatty():
        click.echo(
            format_error(
                f"{prompt}\nTo proceed, type {app} or re-run this command with --confirm {app}"
            ),
            err=True,
        )
        confirm = click.prompt("", prompt_suffix="> ", default="", show_default=False)
    if confirm is None:
        raise CliError(f"{refusal}\nTo proceed, re-run this command with --confirm {app}")
    if confirm != app:
        shown = f"{confirm} " if confirm else ""
        raise CliError(f"Confirmation {shown}did not match {app}. Aborted.")
