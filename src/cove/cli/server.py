"""`cove server`: run the Cove platform on this machine."""

from __future__ import annotations

import click


@click.command("server")
def server() -> None:
    """Run Cove: API + git, router, builder and dyno manager (settings from COVE_* env)."""
    from cove.server import main as run_server  # heavy imports only for this command

    run_server()


COMMANDS: list[tuple[click.Command, list[str]]] = [(server, [])]
