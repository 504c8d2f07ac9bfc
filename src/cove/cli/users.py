"""`cove users`, `users:create`, `users:remove`: an admin manages who may log in."""

from __future__ import annotations

import sys

import click

from cove.cli.context import CliState, pass_state
from cove.cli.output import action, echo, table


@click.command("users")
@pass_state
def users_list(state: CliState) -> None:
    """List the users of this Cove (admins only)."""
    rows = state.client().list_users()
    lines = table(
        [
            [
                u["email"],
                "admin" if u.get("admin") else "",
                "" if u.get("password_set") else "no password",
            ]
            for u in rows
        ]
    )
    for line in lines:
        echo(line.rstrip())


@click.command("users:create")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from the first line of stdin (default: prompt twice)",
)
@click.option(
    "--invite",
    is_flag=True,
    help="no password: print a one-time invitation for the user to set theirs",
)
@pass_state
def users_create(state: CliState, email: str, password_stdin: bool, invite: bool) -> None:
    """Create a user who logs in with EMAIL and a password (admins only). The password is
    never taken on the command line; with --invite the user sets it (`cove login --invite`)."""
    if invite and password_stdin:
        raise click.UsageError("--invite and --password-stdin don't go together.")
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not invite:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password == "":
        raise click.UsageError("A password is required.")
    client = state.client()
    with action(f"Creating user {email}"):
        created = client.create_user(email, password)
    invitation = created.get("invitation")
    if invitation:
        days = invitation["expires_in_days"]
        echo(f"Invitation for {email} (shown once, valid {days} days):")
        echo(invitation["token"])
        echo("Send it to them privately; they run `cove login --invite` and paste it.")


@click.command("users:remove")
@click.argument("email")
@pass_state
def users_remove(state: CliState, email: str) -> None:
    """Remove a user: their tokens stop working and they lose access to shared apps."""
    client = state.client()
    with action(f"Removing user {email}"):
        client.remove_user(email)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (users_list, ("users:list",)),
    (users_create, ("users:add",)),
    (users_remove, ("users:destroy",)),
]
