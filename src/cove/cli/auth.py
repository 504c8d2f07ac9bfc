"""`cove login`, `cove logout`, `cove auth:whoami`, `cove auth:token`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cove.cli import trust
from cove.cli.context import (
    CliState,
    netrc_machines,
    pass_state,
    remove_netrc_entries,
    write_netrc_entries,
)
from cove.cli.output import action, echo


@click.command("login")
@click.option("--token", metavar="TOKEN", help="API token (default: prompt, or COVE_API_KEY)")
@click.option(
    "--ca",
    "ca",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the server's CA certificate (default: found locally, or fetched and confirmed)",
)
@click.option(
    "--ca-fingerprint",
    metavar="SHA256",
    help="trust the server's CA if it has this SHA-256 fingerprint (no prompt)",
)
@pass_state
def login(state: CliState, token: str | None, ca: Path | None, ca_fingerprint: str | None) -> None:
    """Log in with an API token and store it in ~/.netrc (and the server's CA next to it)."""
    token = token or os.environ.get("COVE_API_KEY")
    if not token:
        token = click.prompt("Cove API token", hide_input=True).strip()
    if not token:
        raise click.UsageError("An API token is required.")
    if state.transport is None:  # (an injected transport, in tests, has no TLS)
        # Trust first: the token goes only to a server whose certificate checks out.
        trust.establish(state.api_url, ca, ca_fingerprint)
    account = state.client(token=token).get_account()
    email = account["email"]
    write_netrc_entries(netrc_machines(state.api_url), email, token)
    echo(f"Logged in as {email}")


@click.command("logout")
@pass_state
def logout(state: CliState) -> None:
    """Remove the stored API token from ~/.netrc."""
    with action("Logging out"):
        remove_netrc_entries(netrc_machines(state.api_url))


@click.command("auth:whoami")
@pass_state
def whoami(state: CliState) -> None:
    """Display the email of the logged-in account."""
    echo(state.client().get_account()["email"])


@click.command("auth:token")
@pass_state
def token(state: CliState) -> None:
    """Display the API token in use."""
    echo(state.token())


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (login, ("auth:login",)),
    (logout, ("auth:logout",)),
    (whoami, ("whoami",)),
    (token, ()),
]
