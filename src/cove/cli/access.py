"""`cove access`, `access:add EMAIL`, `access:remove EMAIL` and `apps:transfer EMAIL`:
who may act on an app."""

from __future__ import annotations

import json

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import action, echo, header, require_confirmation, table


@click.command("access")
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def access_list(state: CliState, app: str, as_json: bool) -> None:
    """List who has access to an app: its owner and collaborators."""
    rows = state.client().list_collaborators(app)
    if as_json:
        echo(json.dumps(rows, indent=2))
        return
    header(f"{app} Access List")
    for line in table([[r["user"]["email"], r["role"]] for r in rows]):
        echo(line.rstrip())


@click.command("access:add")
@click.argument("email")
@app_options
@pass_state
def access_add(state: CliState, app: str, email: str) -> None:
    """Add a collaborator to an app."""
    client = state.client()
    with action(f"Adding {email} access to the app {app}"):
        client.add_collaborator(app, email)


@click.command("access:remove")
@click.argument("email")
@app_options
@pass_state
def access_remove(state: CliState, app: str, email: str) -> None:
    """Remove a collaborator from an app."""
    client = state.client()
    with action(f"Removing {email} access from the app {app}"):
        client.remove_collaborator(app, email)


@click.command("apps:transfer")
@click.argument("recipient", metavar="EMAIL")
@click.option("--confirm", metavar="APP", help="the app's name, to confirm")
@app_options
@pass_state
def apps_transfer(state: CliState, app: str, recipient: str, confirm: str | None) -> None:
    """Transfer an app to another user (you stay on as a collaborator)."""
    require_confirmation(
        app,
        confirm,
        refusal=f"This transfers {app} to {recipient}.",
        prompt=f"WARNING: This will transfer {app} to {recipient}.",
    )
    client = state.client()
    with action(f"Transferring {app} to {recipient}"):
        client.transfer_app(app, recipient)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (access_list, ()),
    (access_add, ()),
    (access_remove, ()),
    (apps_transfer, ()),
]
