"""`cove stack:build`: the image dynos run on the swarm backend (run where `cove server`
runs, as root, beside the Docker daemon; see docs/scaling.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cove.cli.output import CliError, echo


@click.command("stack:build")
@click.option(
    "--rootfs",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A Debian 12 root filesystem tarball to start from, instead of debootstrap.",
)
@click.option("--mirror", default="", help="The Debian mirror debootstrap downloads from.")
def stack_build(rootfs: Path | None, mirror: str) -> None:
    """Build the swarm backend's stack image and import it into the local Docker."""
    from cove.builder.stack import discover_stack
    from cove.sandbox import Users
    from cove.settings import Settings
    from cove.swarm.engine import Engine, EngineError
    from cove.swarm.stack_image import StackBuildError, build

    settings = Settings.from_env()
    stack = discover_stack(settings, shared=Users(settings.users_dir).enabled)

    async def run() -> tuple[str, list[str]]:
        engine = Engine(settings.docker_socket, timeout=600)
        try:
            return await build(engine, stack, rootfs, mirror)
        finally:
            await engine.close()

    echo("Building the stack image (a Debian 12 root filesystem and the stack's interpreters)...")
    try:
        image, added = asyncio.run(run())
    except (StackBuildError, EngineError, OSError) as exc:
        raise CliError(f"The stack image was not built: {exc}") from None
    for path in added:
        echo(f"  with {path}")
    echo(f"Built {image} (also tagged cove-stack:latest) for the swarm backend.")


COMMANDS: list[tuple[click.Command, list[str]]] = [(stack_build, [])]
