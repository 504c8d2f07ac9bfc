"""`cove run` and `cove run:detached`: one-off dynos (Heroku's `heroku run`).

`cove run` starts a `run.N` dyno attached to this terminal through the rendezvous
(cove.client.rendezvous): a remote TTY when stdin and stdout are terminals (raw mode here,
window size passed and kept in step), pipes otherwise. It exits with the command's status.
"""

from __future__ import annotations

import functools
import io
import os
import re
import ssl
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import cast

import click

from cove.cli import trust
from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, app_label, echo
from cove.client import ApiConnectionError, ApiError
from cove.client.rendezvous import Attachment, AttachUrl, RendezvousError
from cove.client.types import WindowSize

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An argument with one of these is double-quoted when the command is joined: they would
# split it or change the command's syntax. `$`, globs and backquotes are left alone, so
# `cove run echo \$HOME` expands in the dyno, as with `heroku run`.
SHELL_SYNTAX = frozenset(" \t\n\"'\\()<>|&;#")
DEFAULT_SIZE = WindowSize(columns=80, lines=24)
SIGNAL_EXIT_BASE = 128


def join_command(args: tuple[str, ...] | list[str]) -> str:
    """The command line the dyno's shell runs: one argument as it is (`cove run "rake
    test"`), several joined with spaces, quoting those that need it."""
    if len(args) == 1:
        return args[0]
    return " ".join(_quote(arg) for arg in args)


def _quote(arg: str) -> str:
    if arg and not SHELL_SYNTAX.intersection(arg):
        return arg
    # Within double quotes only `"`, `\`, `$` and backquote are special: `$` stays live.
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_env(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`-e 'K=V;K2=V2'` (Heroku's format; the flag may also be repeated) → a dict.
    Entries are never echoed back: values may be secrets."""
    env: dict[str, str] = {}
    for value in values:
        for number, entry in enumerate(value.split(";"), start=1):
            if not entry.strip():
                continue
            key, sep, val = entry.partition("=")
            key = key.strip()
            if not sep or not ENV_KEY.match(key):
                raise click.UsageError(
                    f"Invalid --env entry #{number}: expected KEY=VALUE, entries separated "
                    "by ';' (a value can't contain ';')."
                )
            env[key] = val
    return env


def window_size() -> WindowSize:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (OSError, ValueError):
        return DEFAULT_SIZE
    return WindowSize(columns=size.columns or 80, lines=size.lines or 24)


def stdin_reader() -> Callable[[int], bytes]:
    """Reads of stdin for the session's thread: on the file descriptor, not through
    ``sys.stdin.buffer``, whose lock a read blocked at exit would hold (Python aborts
    when a daemon thread holds it at shutdown)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return cast(io.BufferedReader, sys.stdin.buffer).read1  # a stream without a file
    return functools.partial(os.read, fd)


@contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """The local terminal in raw mode (keys, Ctrl-C included, go to the dyno as bytes),
    restored however the session ends."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def rendezvous_tls(api_url: str) -> ssl.SSLContext | None:
    """TLS to the rendezvous with the trust the API client has; none where the API is plain
    HTTP (COVE_TLS=off serves the rendezvous on plain TCP too)."""
    if not api_url.startswith("https:"):
        return None
    verify = trust.verify_for(api_url)
    return verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()


def _status(message: str, *, nl: bool = True) -> None:
    click.echo(message, err=True, nl=nl)


@click.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_options
@click.option("-s", "--size", help="dyno size (standard-1x, standard-2x, ...)")
@click.option("-e", "--env", "env", multiple=True, metavar="'K=V;K2=V2'", help="extra env vars")
@click.option("--no-tty", is_flag=True, help="force the command not to run in a tty")
@click.option(
    "-x", "--exit-code", is_flag=True, help="(accepted for Heroku compatibility: always on)"
)
@click.option("--type", "process_type", metavar="TYPE", help="process type of the dyno")
@click.pass_context
@pass_state
def run(
    state: CliState,
    ctx: click.Context,
    app: str,
    command: tuple[str, ...],
    size: str | None,
    env: tuple[str, ...],
    no_tty: bool,
    exit_code: bool,
    process_type: str | None,
) -> None:
    """Run a one-off process inside a dyno, attached to this terminal.

    Options go before the command: `cove run -a myapp python manage.py migrate`. Exits with
    the command's exit status.
    """
    line = join_command(command)
    body_env: dict[str, str | int] = {}
    use_tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    if use_tty:
        size_now = window_size()
        body_env |= {
            "TERM": os.environ.get("TERM") or "xterm",
            "COLUMNS": size_now["columns"],
            "LINES": size_now["lines"],
        }
    body_env |= parse_env(env)
    client = state.client()
    tls = rendezvous_tls(state.api_url)
    _status(f"Running {line} on {app_label(app)}... ", nl=False)
    with ExitStack() as terminal:
        try:
            dyno = client.create_dyno(
                app,
                line,
                attach=True,
                env=body_env,
                force_no_tty=not use_tty,
                size=size,
                type=process_type,
            )
            name = dyno["name"]
            url = AttachUrl.parse(dyno.get("attach_url") or "")

            def attached() -> None:
                _status(f"up, {name}")
                if use_tty:
                    terminal.enter_context(raw_mode(sys.stdin.fileno()))

            def resized() -> None:
                # The dyno may have just ended: a failed resize isn't worth a word.
                with suppress(ApiError, ApiConnectionError):
                    client.resize_dyno(app, name, window_size())

            session = Attachment(
                url,
                tls,
                read_stdin=stdin_reader(),
                stdout=sys.stdout.buffer,
                tty=use_tty,
                crlf_to_lf=not sys.stdout.isatty(),
                on_attached=attached,
                on_resize=resized if use_tty else None,
            )
            outcome = session.run()
        except RendezvousError as exc:
            _status("!")
            raise CliError(str(exc)) from None
        except BaseException:
            _status("!")
            raise
    if outcome.signal is not None:
        ctx.exit(SIGNAL_EXIT_BASE + outcome.signal)
    if outcome.status is None:
        raise CliError(
            f"Error: the connection to {name} closed before the process reported its exit status"
        )
    ctx.exit(outcome.status)


@click.command(
    "run:detached",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_options
@click.option("-s", "--size", help="dyno size (standard-1x, standard-2x, ...)")
@click.option("-e", "--env", "env", multiple=True, metavar="'K=V;K2=V2'", help="extra env vars")
@click.option("--type", "process_type", metavar="TYPE", help="process type of the dyno")
@pass_state
def run_detached(
    state: CliState,
    app: str,
    command: tuple[str, ...],
    size: str | None,
    env: tuple[str, ...],
    process_type: str | None,
) -> None:
    """Run a one-off process in the background; its output goes to the app's logs."""
    line = join_command(command)
    body_env: dict[str, str | int] = dict(parse_env(env))
    client = state.client()
    _status(f"Running {line} on {app_label(app)}... ", nl=False)
    try:
        dyno = client.create_dyno(
            app, line, attach=False, env=body_env, size=size, type=process_type
        )
    except BaseException:
        _status("!")
        raise
    _status(f"done, {dyno['name']}")
    echo(f"Run cove logs --app {app} --dyno {dyno['name']} to view the output.")


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(run, ()), (run_detached, ())]
