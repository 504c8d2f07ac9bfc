"""`cove maintenance`, `maintenance:on` and `maintenance:off`."""

from __future__ import annotations

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import action, app_label, echo


@click.command("maintenance")
@app_options
@pass_state
def maintenance_status(state: CliState, app: str) -> None:
    """Display the current maintenance status of an app."""
    info = state.client().get_app(app)
    echo("on" if info.get("maintenance") else "off")


@click.command("maintenance:on")
@app_options
@pass_state
def maintenance_on(state: CliState, app: str) -> None:
    """Put the app into maintenance mode (the router answers 503 with H80)."""
    client = state.client()
    with action(f"Enabling maintenance mode for {app_label(app)}"):
        client.update_app(app, maintenance=True)


@click.command("maintenance:off")
@app_options
@pass_state
def maintenance_off(state: CliState, app: str) -> None:
    """Take the app out of maintenance mode."""
    client = state.client()
    with action(f"Disabling maintenance mode for {app_label(app)}"):
        client.update_app(app, maintenance=False)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (maintenance_status, ()),
    (maintenance_on, ()),
    (maintenance_off, ()),
]
