"""`cove local` and `cove local:run`: run the app on this machine, as `heroku local` does,
with no server (the Procfile in the current directory, the environment from `.env`)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from cove.cli.output import CliError, format_error
from cove.domain.errors import InvalidParams
from cove.domain.procfile import parse_procfile
from cove.local.dotenv import load_env_files
from cove.local.formation import parse_formation
from cove.local.output import Printer
from cove.local.plan import base_port, plan_processes
from cove.local.runner import DEFAULT_GRACE, Runner

MAX_PROCFILE_BYTES = 1024 * 1024


def _warn(text: str) -> None:
    click.echo(f"[WARN] {text}", err=True)


def _load_env(env_file: str | None, cwd: Path, *, notices_to_stderr: bool) -> dict[str, str]:
    values, notices, warnings = load_env_files(env_file, cwd)
    for warning in warnings:
        _warn(warning)
    for notice in notices:
        click.echo(f"[OKAY] {notice}", err=notices_to_stderr)
    return values


def _read_procfile(cwd: Path, name: str) -> dict[str, str]:
    path = cwd / name
    if not path.is_file():
        raise CliError(
            f"No {name} found in {cwd}.\nAdd a Procfile with a `<process type>: <command>` "
            "line per process type, or use -f to name another file."
        )
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PROCFILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"Could not read {name}: {exc.strerror}") from exc
    if len(data) > MAX_PROCFILE_BYTES:
        raise CliError(f"{name} is larger than {MAX_PROCFILE_BYTES} bytes.")
    try:
        types = parse_procfile(data.decode("utf-8", errors="replace"))
    except InvalidParams as exc:
        raise CliError(exc.message.replace("Procfile", name, 1)) from exc
    if not types:
        raise CliError(f"{name} defines no process types.")
    return types


@click.command("local")
@click.argument("formation", nargs=-1, metavar="[PROCESSNAME | TYPE=COUNT ...]")
@click.option("-f", "--procfile", default="Procfile", show_default=True, help="Procfile to use")
@click.option("-e", "--env", "env_file", help="env file(s), comma-separated (default .env)")
@click.option("-p", "--port", help="base port (default: PORT from the env file or shell, or 5000)")
@click.option(
    "-t",
    "--timeout",
    type=click.FloatRange(0, 3600),
    default=DEFAULT_GRACE,
    show_default=True,
    help="seconds between SIGTERM and SIGKILL when stopping",
)
def local(
    formation: tuple[str, ...],
    procfile: str,
    env_file: str | None,
    port: str | None,
    timeout: float,
) -> None:
    """Run the app's Procfile locally, e.g. `cove local`, `cove local web=2 worker=1`.

    Each process gets the shell's environment, the env file's values and its own PORT
    (base + instance - 1 + 100 per process type). When one process exits, or on Ctrl-C,
    all are stopped; the exit status is that process's."""
    cwd = Path.cwd()
    types = _read_procfile(cwd, procfile)
    try:
        wanted = parse_formation(formation, types)
    except InvalidParams as exc:
        raise CliError(exc.message) from exc
    dotenv = _load_env(env_file, cwd, notices_to_stderr=False)
    try:
        processes = plan_processes(wanted, types, base_port(port, dotenv, os.environ))
    except InvalidParams as exc:
        raise CliError(exc.message) from exc
    if not processes:
        raise CliError("No processes to start (every process type has a count of 0).")
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    runner = Runner(
        processes=processes,
        env={**os.environ, **dotenv},
        cwd=cwd,
        out=sys.stdout,
        printer=Printer([p.name for p in processes], color=color),
        grace=timeout,
    )
    status = asyncio.run(runner.run())
    if runner.output_closed:
        # Nothing can be shown any more: don't let the exit's flush of stdout fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(status)


@click.command(
    "local:run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-e", "--env", "env_file", help="env file(s), comma-separated (default .env)")
@click.option("-p", "--port", help="set PORT for the command")
def local_run(command: tuple[str, ...], env_file: str | None, port: str | None) -> None:
    """Run one command with the env file's environment, e.g. `cove local:run flask deploy`.

    The command replaces `cove` (same terminal, same process), so its exit status and
    signals pass straight through."""
    env = {**os.environ, **_load_env(env_file, Path.cwd(), notices_to_stderr=True)}
    if port is not None:
        env["PORT"] = port
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], list(command), env)
    except FileNotFoundError:
        status, reason = 127, "command not found"
    except PermissionError:
        status, reason = 126, "permission denied"
    except OSError as exc:
        status, reason = 126, exc.strerror or str(exc)
    click.echo(format_error(f"{command[0]}: {reason}"), err=True)
    sys.exit(status)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(local, ("local:start",)), (local_run, ())]
