"""`cove login`, `cove logout`, `cove auth:whoami`, `cove auth:token`, and the tokens
of the account: `cove authorizations`, `authorizations:create`, `authorizations:revoke`."""

from __future__ import annotations

import contextlib
import os
import socket
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
from cove.cli.output import CliError, action, echo, format_time, table
from cove.client import ApiConnectionError, ApiError


@click.command("login")
@click.option("--token", metavar="TOKEN", help="log in with an API token instead of a password")
@click.option(
    "--invite", is_flag=True, help="accept an invitation (pasted at a prompt) and set a password"
)
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
def login(
    state: CliState, token: str | None, invite: bool, ca: Path | None, ca_fingerprint: str | None
) -> None:
    """Log in with your email and password (or an API token) and store a new API token in
    ~/.netrc (and the server's CA next to it)."""
    token = token or os.environ.get("COVE_API_KEY")
    if state.transport is None:  # (an injected transport, in tests, has no TLS)
        # Trust first: credentials go only to a server whose certificate checks out.
        trust.establish(state.api_url, ca, ca_fingerprint)
    if invite:
        token = _accept_invitation(state)
    if not token:
        email = click.prompt("Email").strip()
        password = click.prompt("Password", hide_input=True)
        if not email or not password:
            raise click.UsageError("An email and a password are required.")
        description = f"Cove CLI login from {socket.gethostname()}"
        try:
            created = state.client(token="").create_authorization(
                email, password, description=description
            )
        except ApiError as exc:
            if exc.status == 401:
                raise CliError("Login failed: wrong email or password.") from exc
            raise
        token = created["access_token"]["token"]
    account = state.client(token=token).get_account()
    email = account["email"]
    write_netrc_entries(netrc_machines(state.api_url), email, token)
    echo(f"Logged in as {email}")


def _accept_invitation(state: CliState) -> str:
    """Trade an invitation (read hidden: it is a credential) and a new password for a token."""
    invitation = click.prompt("Invitation", hide_input=True).strip()
    password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        created = state.client(token="").accept_invitation(invitation, password)
    except ApiError as exc:
        if exc.status == 401:
            raise CliError(exc.message) from exc
        raise
    return created["access_token"]["token"]


@click.command("logout")
@pass_state
def logout(state: CliState) -> None:
    """Revoke the stored API token and remove it from ~/.netrc."""
    with action("Logging out"):
        # Already revoked, server away or not logged in: still forget the token here.
        with contextlib.suppress(ApiError, ApiConnectionError, CliError):
            state.client().delete_session()
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


@click.command("auth:password")
@pass_state
def password(state: CliState) -> None:
    """Set or change your account's password (asked twice); the dashboard logs in with it.
    The current password is asked first (leave it empty if the account has none yet)."""
    current = click.prompt(
        "Current password (empty if none)", hide_input=True, default="", show_default=False
    )
    new = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with action("Changing your password"):
        state.client().change_password(current or None, new)


@click.command("authorizations")
@pass_state
def authorizations(state: CliState) -> None:
    """List the API tokens of your account (their values are shown only at creation)."""
    rows = state.client().list_authorizations()
    if not rows:
        echo("No authorizations.")
        return
    lines = table(
        [[r["id"], r.get("description") or "", format_time(r["created_at"])] for r in rows]
    )
    for line in lines:
        echo(line)


@click.command("authorizations:create")
@click.option("-d", "--description", default="Created with cove authorizations:create")
@pass_state
def authorizations_create(state: CliState, description: str) -> None:
    """Create a new API token (shown once)."""
    created = state.client().create_token(description)
    echo(f"Client:      {created['id']}")
    echo(f"Description: {description}")
    echo(f"Token:       {created['access_token']['token']}")


@click.command("authorizations:revoke")
@click.argument("authorization_id", metavar="ID")
@pass_state
def authorizations_revoke(state: CliState, authorization_id: str) -> None:
    """Revoke an API token by its id (see `cove authorizations`)."""
    with action(f"Revoking authorization {authorization_id}"):
        state.client().revoke_authorization(authorization_id)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (login, ("auth:login",)),
    (logout, ("auth:logout",)),
    (whoami, ("whoami",)),
    (token, ()),
    (password, ()),
    (authorizations, ("authorizations:list",)),
    (authorizations_create, ()),
    (authorizations_revoke, ("authorizations:destroy",)),
]
