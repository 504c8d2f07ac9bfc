"""`cove config`, `config:get`, `config:set`, `config:unset`."""

from __future__ import annotations

import json
import shlex

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import action, align_object, app_label, echo, header
from cove.client import CoveClient


def parse_assignments(args: tuple[str, ...]) -> dict[str, str]:
    """`KEY=value` arguments to a dict; a bad shape is a usage error (exit 2)."""
    if not args:
        raise click.UsageError("Specify KEY=VALUE to set (e.g. cove config:set FOO=bar).")
    result: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise click.UsageError(f"{arg} is invalid. Must be in the format FOO=bar.")
        if any(c.isspace() for c in key):
            raise click.UsageError(f"{arg} is invalid: the key must not contain whitespace.")
        result[key] = value
    return result


def _key_list(keys: list[str]) -> str:
    return ", ".join(keys)


def _new_release_version(client: CoveClient, app: str) -> str | None:
    releases = client.list_releases(app, limit=1, descending=True)
    return f"v{releases[0]['version']}" if releases else None


def _shell_line(key: str, value: str) -> str:
    return f"{key}={shlex.quote(value)}"


@click.command("config")
@app_options
@click.option("-s", "--shell", is_flag=True, help="output config vars in shell format")
@click.option("-j", "--json", "as_json", is_flag=True, help="output config vars in JSON format")
@pass_state
def config_list(state: CliState, app: str, shell: bool, as_json: bool) -> None:
    """Display the config vars for an app."""
    config = state.client().get_config_vars(app)
    if as_json:
        echo(json.dumps(config, indent=2, sort_keys=True))
    elif shell:
        for key in sorted(config):
            echo(_shell_line(key, config[key]))
    else:
        header(f"{app} Config Vars")
        for line in align_object(sorted(config.items())):
            echo(line)


@click.command("config:get")
@click.argument("key")
@app_options
@click.option("-s", "--shell", is_flag=True, help="output config var in shell format")
@pass_state
def config_get(state: CliState, app: str, key: str, shell: bool) -> None:
    """Display a single config value (an empty line if it is not set)."""
    value = state.client().get_config_vars(app).get(key)
    if shell:
        echo(_shell_line(key, value or ""))
    else:
        echo(value or "")


@click.command("config:set")
@click.argument("assignments", nargs=-1, metavar="KEY1=VALUE1 ...")
@app_options
@pass_state
def config_set(state: CliState, app: str, assignments: tuple[str, ...]) -> None:
    """Set one or more config vars (restarts the app)."""
    changes = parse_assignments(assignments)
    client = state.client()
    keys = list(changes)
    with action(f"Setting {_key_list(keys)} and restarting {app_label(app)}") as status:
        result = client.update_config_vars(app, changes)
        status.detail = _new_release_version(client, app)
    shown = {key: (result or {}).get(key, changes[key]) for key in keys}
    for line in align_object(list(shown.items())):
        echo(line)


@click.command("config:unset")
@click.argument("keys", nargs=-1, required=True, metavar="KEY1 ...")
@app_options
@pass_state
def config_unset(state: CliState, app: str, keys: tuple[str, ...]) -> None:
    """Unset one or more config vars (restarts the app)."""
    client = state.client()
    unique = list(dict.fromkeys(keys))
    with action(f"Unsetting {_key_list(unique)} and restarting {app_label(app)}") as status:
        client.update_config_vars(app, dict.fromkeys(unique))
        status.detail = _new_release_version(client, app)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (config_list, ()),
    (config_get, ()),
    (config_set, ("config:add",)),
    (config_unset, ("config:remove",)),
]
