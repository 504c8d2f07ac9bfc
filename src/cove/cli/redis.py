"""`cove redis:info` and `redis:cli`. DATABASE defaults to `REDIS_URL`."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

import click

from cove.cli.addons import (
    info_addon_name,
    info_vars,
    require_service,
    service_name,
    short_plan,
    split_userinfo,
)
from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, align_object, echo, format_size, header
from cove.client.types import Credentials

DEFAULT_DATABASE = "REDIS_URL"
SERVICE = "heroku-redis"
REDIS_CLI_MISSING = (
    "redis-cli is not installed (or not on PATH).\n"
    "Install it (e.g. apt install redis-tools) and try again."
)


@click.command("redis:info")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@pass_state
def redis_info(state: CliState, app: str, database: str) -> None:
    """Show a Redis add-on's plan, version and the server's INFO."""
    info = state.client().addon_info(app, database)
    require_service(database, info.get("service") or "", SERVICE)
    pairs = [
        ("Plan", short_plan(info.get("plan") or "")),
        ("Status", info.get("status") or ""),
        ("Version", info.get("version") or ""),
    ]
    if info.get("data_size") is not None:
        pairs.append(("Data Size", format_size(info.get("data_size"))))
    if info.get("connections") is not None:
        pairs.append(("Connections", str(info.get("connections"))))
    header(f"{info_addon_name(info) or database} ({info_vars(info, database)})")
    for line in align_object(pairs):
        echo(line)
    text = (info.get("info") or "").replace("\r\n", "\n").strip()
    if text:
        echo()
        echo(text)


def redis_cli_invocation(
    redis_cli: str, credentials: Credentials, command: list[str]
) -> tuple[list[str], dict[str, str]]:
    """`redis-cli -u URL [COMMAND...]`, the password passed in `REDISCLI_AUTH` rather than on
    the (world-readable) command line."""
    url, user, password = split_userinfo(credentials["url"])
    env = dict(os.environ)
    password = password if password is not None else credentials.get("password")
    if password:
        env["REDISCLI_AUTH"] = password
    argv = [redis_cli, "-u", url]
    if user and user != "default":
        argv += ["--user", user]
    if urlsplit(url).scheme == "rediss":
        # Redis add-ons use self-signed certificates, as on Heroku.
        argv.append("--insecure")
    return argv + command, env


@click.command("redis:cli")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@click.option("-c", "--command", metavar="COMMAND", help="Redis command to run (e.g. -c 'GET key')")
@pass_state
def redis_cli(state: CliState, app: str, database: str, command: str | None) -> None:
    """Open redis-cli on the add-on, or run one command (-c)."""
    executable = shutil.which("redis-cli")
    if executable is None:
        raise CliError(REDIS_CLI_MISSING)
    words = shlex.split(command) if command is not None else []
    if command is not None and not words:
        raise click.UsageError("The -c command is empty.")
    client = state.client()
    addon = client.get_addon(app, database)
    require_service(database, service_name(addon), SERVICE)
    credentials = client.addon_credentials(app, database)
    argv, env = redis_cli_invocation(executable, credentials, words)
    if words:
        code = subprocess.run(argv, env=env, check=False).returncode
        if code:
            click.get_current_context().exit(code)
        return
    echo(f"--> Connecting to {addon['name']}")
    sys.stdout.flush()
    state.close()
    os.execvpe(executable, argv, env)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (redis_info, ("redis",)),
    (redis_cli, ()),
]
