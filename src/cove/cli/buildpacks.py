"""`cove buildpacks` and `buildpacks:set|add|remove|clear`."""

from __future__ import annotations

from pathlib import Path

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, app_label, echo, header
from cove.client import BuildpackInstallation, CoveClient


def _urls(installations: list[BuildpackInstallation]) -> list[str]:
    ordered = sorted(installations, key=lambda i: i.get("ordinal", 0))
    return [i["buildpack"].get("url") or i["buildpack"].get("name", "") for i in ordered]


def _current(client: CoveClient, app: str) -> list[str]:
    return _urls(client.list_buildpack_installations(app))


def normalise(buildpack: str) -> str:
    """A local buildpack directory becomes an absolute path; URLs and names are unchanged."""
    if "://" in buildpack:
        return buildpack
    path = Path(buildpack).expanduser()
    return str(path.resolve()) if path.is_dir() else buildpack


def _report(app: str, verb: str, urls: list[str]) -> None:
    label = app_label(app)
    if not urls:
        noun = "Buildpacks" if verb == "cleared" else "Buildpack"
        echo(f"{noun} {verb}. Next release on {label} will detect buildpacks normally.")
        return
    if len(urls) == 1:
        echo(f"Buildpack {verb}. Next release on {label} will use {urls[0]}.")
    else:
        echo(f"Buildpack {verb}. Next release on {label} will use:")
        for n, url in enumerate(urls, start=1):
            echo(f"  {n}. {url}")
    echo("Run `git push cove main` to create a new release using these buildpacks.")


def _check_index(index: int, limit: int) -> int:
    if index < 1 or index > limit:
        raise click.BadParameter(f"must be between 1 and {limit}", param_hint="'-i' / '--index'")
    return index - 1


def _position(index: int, urls: list[str]) -> int:
    """Where ``--index`` puts a buildpack, as Heroku's CLI does: past the end is last."""
    if index < 1:
        raise CliError("Invalid index. Must be greater than 0.")
    return min(index - 1, len(urls))


@click.command("buildpacks")
@app_options
@pass_state
def buildpacks_list(state: CliState, app: str) -> None:
    """Display the buildpacks of an app."""
    urls = _current(state.client(), app)
    if not urls:
        echo(f"{app_label(app)} has no Buildpacks.")
    elif len(urls) == 1:
        header(f"{app_label(app)} Buildpack URL")
        echo(urls[0])
    else:
        header(f"{app_label(app)} Buildpack URLs")
        for n, url in enumerate(urls, start=1):
            echo(f"{n}. {url}")


@click.command("buildpacks:set")
@click.argument("buildpack", metavar="URL_OR_PATH")
@app_options
@click.option("-i", "--index", type=int, default=1, show_default=True, help="position to set")
@pass_state
def buildpacks_set(state: CliState, app: str, buildpack: str, index: int) -> None:
    """Set the buildpack at a position (replacing the one there)."""
    buildpack = normalise(buildpack)
    client = state.client()
    urls = _current(client, app)
    position = _position(index, urls)
    if buildpack in urls:
        raise CliError(f"The buildpack {buildpack} is already set on {app_label(app)}.")
    if position == len(urls):
        urls.append(buildpack)
    else:
        urls[position] = buildpack
    _report(app, "set", _urls(client.update_buildpack_installations(app, urls)))


@click.command("buildpacks:add")
@click.argument("buildpack", metavar="URL_OR_PATH")
@app_options
@click.option("-i", "--index", type=int, help="position to insert at (default: last)")
@pass_state
def buildpacks_add(state: CliState, app: str, buildpack: str, index: int | None) -> None:
    """Add a buildpack (last, or at --index)."""
    buildpack = normalise(buildpack)
    client = state.client()
    urls = _current(client, app)
    if buildpack in urls:
        raise CliError(f"The buildpack {buildpack} is already set on {app_label(app)}.")
    position = len(urls) if index is None else _position(index, urls)
    urls.insert(position, buildpack)
    _report(app, "added", _urls(client.update_buildpack_installations(app, urls)))


@click.command("buildpacks:remove")
@click.argument("buildpack", required=False, metavar="[URL_OR_PATH]")
@app_options
@click.option("-i", "--index", type=int, help="position of the buildpack to remove")
@pass_state
def buildpacks_remove(state: CliState, app: str, buildpack: str | None, index: int | None) -> None:
    """Remove a buildpack, by URL or by --index."""
    if (buildpack is None) == (index is None):
        raise click.UsageError("Specify a buildpack URL or --index, not both.")
    client = state.client()
    urls = _current(client, app)
    if buildpack is not None:
        if buildpack not in urls:
            raise CliError(f"Buildpack {buildpack} not found on {app_label(app)}.")
        urls.remove(buildpack)
    elif index is not None:
        if not urls:
            raise CliError(f"No buildpacks were found on {app_label(app)}.")
        del urls[_check_index(index, len(urls))]
    _report(app, "removed", _urls(client.update_buildpack_installations(app, urls)))


@click.command("buildpacks:clear")
@app_options
@pass_state
def buildpacks_clear(state: CliState, app: str) -> None:
    """Remove all buildpacks (the next build detects them)."""
    state.client().update_buildpack_installations(app, [])
    _report(app, "cleared", [])


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (buildpacks_list, ()),
    (buildpacks_set, ()),
    (buildpacks_add, ()),
    (buildpacks_remove, ()),
    (buildpacks_clear, ()),
]
