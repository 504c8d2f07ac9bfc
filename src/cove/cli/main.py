"""The `cove` command: a Heroku-CLI look-alike for Cove (`cove topic:command`)."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import click

from cove.cli import (
    access,
    addons,
    apps,
    auth,
    buildpacks,
    certs,
    certs_auto,
    config,
    domains,
    drains,
    git,
    heroku_env,
    local,
    logs,
    maintenance,
    pg,
    pipelines,
    ps,
    redis,
    releases,
    run,
    server,
    stack,
    users,
)
from cove.cli.context import CliState
from cove.cli.output import CliError
from cove.client import ApiConnectionError, ApiError
from cove.quick_exit import quick_exit

TOPICS = [
    auth,
    users,
    apps,
    access,
    config,
    releases,
    pipelines,
    ps,
    run,
    maintenance,
    addons,
    pg,
    redis,
    logs,
    drains,
    domains,
    buildpacks,
    git,
    certs,
    certs_auto,
    server,
    stack,
    local,
    heroku_env,
]


class CoveGroup(click.Group):
    """Root group: resolves aliases and turns API failures into clean CLI errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}

    def add_alias(self, alias: str, command_name: str) -> None:
        self.aliases[alias] = command_name

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        return super().get_command(ctx, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _, command, rest = super().resolve_command(ctx, args)
        # Report the canonical name (usage lines say `cove config:set`, not the alias).
        return (command.name if command else None), command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise CliError(exc.message, exc.id) from exc
        except ApiConnectionError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in exc.reason:
                raise CliError(
                    f"The Cove API at {api_url_for_errors(ctx)} has a certificate this machine "
                    "doesn't trust for it.\nIf the server's CA changed, run `cove login` "
                    "again (`cove certs:ca` shows the CA in use)."
                ) from exc
            raise CliError(
                f"Could not connect to the Cove API at {api_url_for_errors(ctx)}: {exc.reason}\n"
                "Is the server running? Set COVE_API_URL to use another server."
            ) from exc


def api_url_for_errors(ctx: click.Context) -> str:
    state = ctx.find_object(CliState)
    return state.api_url if state is not None else os.environ.get("COVE_API_URL", "")


@click.group(cls=CoveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cove", prog_name="cove")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Cove: a self-hosted Heroku. Set COVE_API_URL to choose the server."""
    state = ctx.ensure_object(CliState)
    ctx.call_on_close(state.close)


def _register(group: CoveGroup) -> None:
    for topic in TOPICS:
        for command, aliases in topic.COMMANDS:
            group.add_command(command)
            for alias in aliases:
                group.add_alias(alias, command.name or "")


_register(cli)


def main() -> NoReturn:
    try:
        cli(prog_name="cove")  # (standalone: it ends in SystemExit)
        status: object = 0
    except SystemExit as exc:
        status = exc.code
    except BrokenPipeError:
        status = 1
    quick_exit(status)


if __name__ == "__main__":
    main()
