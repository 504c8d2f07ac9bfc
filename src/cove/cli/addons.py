"""`cove addons`, `addons:create`, `addons:info`, `addons:destroy`, `addons:attach`,
`addons:detach`, and helpers shared with the `pg:*` and `redis:*` topics."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import click

from cove.cli.context import NO_APP, CliState, app_options, pass_state, resolve_app
from cove.cli.output import (
    CliError,
    action,
    align_object,
    app_label,
    echo,
    format_time,
    header,
    require_confirmation,
    table,
)
from cove.client import CoveClient
from cove.client.types import AddOn, AddonInfo, Attachment

# How the Heroku CLI shows an add-on's `state`.
STATE_TEXT = {"provisioned": "created", "provisioning": "creating", "deprovisioned": "deleted"}
WAIT_INTERVAL = 1.0
WAIT_TIMEOUT = 300.0


# -- shared helpers ---------------------------------------------------------------------------


def optional_app_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like `app_options`, but pass `app=None` when no app is given or found in git remotes."""

    @functools.wraps(func)
    def wrapper(*args: Any, app: str | None, remote: str | None, **kwargs: Any) -> Any:
        try:
            resolved: str | None = resolve_app(app, remote)
        except CliError as exc:
            if exc.message != NO_APP:
                raise
            resolved = None
        return func(*args, app=resolved, **kwargs)

    wrapper = click.option("-r", "--remote", metavar="REMOTE", help="git remote of the app to use")(
        wrapper
    )
    wrapper = click.option("-a", "--app", metavar="NAME", help="app to run command against")(
        wrapper
    )
    return wrapper


def confirm_app(app: str, confirm: str | None, warning: str) -> None:
    """Refuse a destructive command unless `--confirm APP` (or, on a terminal, typing the
    app name) matches `app`, with Heroku's "Destructive action" wording. Call it before
    any request is sent."""
    message = f"WARNING: Destructive action\n{warning}"
    require_confirmation(app, confirm, refusal=message, prompt=message)


def new_release_detail(client: CoveClient, app: str) -> str | None:
    """`v7` for the app's newest release (shown after `done,`), if it has any."""
    releases = client.list_releases(app, limit=1, descending=True)
    return f"v{releases[0]['version']}" if releases else None


def var_label(database: str) -> str:
    """`DATABASE_URL` -> `DATABASE` (the attachment name the Heroku CLI shows)."""
    return database.removesuffix("_URL") or database


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`postgres://u:p@h:5432/d` -> (`postgres://h:5432/d`, `u`, `p`), so that a client can be
    given the password through its environment rather than on its (world-readable) argv."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    bare = urlunsplit(parts._replace(netloc=hostport))
    return bare, unquote(user) or None, unquote(password) if colon else None


def require_service(given: str, found: str, service: str) -> None:
    """Refuse a `pg:`/`redis:` command aimed at another kind of add-on (`found` is the
    add-on's service; the `cove-` aliases count as the `heroku-` services)."""
    accepted = {service, "cove-" + service.removeprefix("heroku-")}
    if found and found not in accepted:
        raise CliError(f"{given} is a {found} add-on, not {service}.")


def info_addon_name(info: AddonInfo) -> str:
    """The add-on's name in an `addon_info` answer (`addon` is `{id, name}` or a name)."""
    addon = info.get("addon")
    if isinstance(addon, dict):
        return addon.get("name") or ""
    return addon or ""


def info_vars(info: AddonInfo, given: str) -> str:
    """`HEROKU_POSTGRESQL_RED_URL, DATABASE_URL`: the app's config vars for the add-on."""
    return ", ".join(info.get("attachments") or []) or info.get("url_var") or given


def service_name(addon: AddOn) -> str:
    return (addon.get("addon_service") or {}).get("name", "")


def plan_name(addon: AddOn) -> str:
    return (addon.get("plan") or {}).get("name", "")


def short_plan(plan: str) -> str:
    """`heroku-postgresql:essential-0` -> `essential-0`."""
    return plan.split(":", 1)[1] if ":" in plan else plan


def owner_name(addon: AddOn) -> str:
    return (addon.get("app") or {}).get("name", "")


def state_text(addon: AddOn) -> str:
    state = addon.get("state") or ""
    return STATE_TEXT.get(state, state)


def price_text(addon: AddOn) -> str:
    price = (addon.get("plan") or {}).get("price")
    if not price:
        return ""
    cents = price.get("cents") or 0
    if not cents:
        return "free"
    amount = f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"
    return f"${amount}/{price.get('unit') or 'month'}"


def ruled_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table with a header row and a `────` rule under it."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return table([list(headers), ["─" * w for w in widths], *rows])


# -- addons -----------------------------------------------------------------------------------


def _attachment_label(attachment: Attachment, app: str) -> str:
    on = (attachment.get("app") or {}).get("name", "")
    return attachment["name"] if on == app else f"{on}::{attachment['name']}"


def app_addons_lines(app: str, addons: list[AddOn], attachments: list[Attachment]) -> list[str]:
    """Heroku's per-app layout: one row per add-on, then ` └─ as NAME` per attachment."""
    addons = sorted(addons, key=lambda a: (service_name(a), a["name"]))
    rows = []
    for addon in addons:
        owner = owner_name(addon)
        price = price_text(addon) if owner in (app, "") else f"(billed to {owner} app)"
        rows.append(
            [
                f"{service_name(addon)} ({addon['name']})",
                short_plan(plan_name(addon)),
                price,
                state_text(addon),
            ]
        )
    lines = ruled_table(["Add-on", "Plan", "Price", "State"], rows)
    out = lines[:2]
    for addon, line in zip(addons, lines[2:], strict=True):
        out.append(line)
        mine = [a for a in attachments if (a.get("addon") or {}).get("id") == addon["id"]]
        # This app's attachments first, then the other apps'.
        mine.sort(
            key=lambda a: ((a.get("app") or {}).get("name") != app, _attachment_label(a, app))
        )
        out.extend(f" └─ as {_attachment_label(a, app)}" for a in mine)
    return out


def all_addons_lines(addons: list[AddOn]) -> list[str]:
    addons = sorted(addons, key=lambda a: (owner_name(a), a["name"]))
    rows = [[owner_name(a), a["name"], plan_name(a), price_text(a), state_text(a)] for a in addons]
    return ruled_table(["Owning App", "Add-on", "Plan", "Price", "State"], rows)


@click.command("addons")
@optional_app_options
@click.option("-A", "--all", "all_apps", is_flag=True, help="list the add-ons of all your apps")
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def addons_list(state: CliState, app: str | None, all_apps: bool, as_json: bool) -> None:
    """List your add-ons and their attachments (an app's, or with --all every app's)."""
    client = state.client()
    if all_apps or app is None:
        addons = client.list_addons()
        if as_json:
            echo(json.dumps(addons, indent=2))
        elif not addons:
            echo("You have no add-ons.")
        else:
            for line in all_addons_lines(addons):
                echo(line)
        return
    addons = client.list_addons(app)
    if as_json:
        echo(json.dumps(addons, indent=2))
        return
    if not addons:
        echo(f"No add-ons for app {app}.")
        return
    attachments = client.list_attachments()
    for line in app_addons_lines(app, addons, attachments):
        echo(line)


# -- addons:create ------------------------------------------------------------------------------


def parse_config_flags(args: Sequence[str]) -> dict[str, str | bool]:
    """`-- --fork DB --version 16 --followers` -> `{"fork": "DB", "version": "16",
    "followers": True}` (the add-on's provisioning options, as the Heroku CLI sends them)."""
    config: dict[str, str | bool] = {}
    key: str | None = None
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            if key is not None:
                config[key] = True
            name, sep, value = arg[2:].partition("=")
            if sep:
                config[name] = value
                key = None
            else:
                key = name
        elif key is not None:
            config[key] = arg
            key = None
        else:
            raise click.UsageError(
                f"Unexpected argument {arg!r}: add-on options look like -- --NAME VALUE."
            )
    if key is not None:
        config[key] = True
    return config


def _wait_until_provisioned(client: CoveClient, app: str, addon: AddOn) -> AddOn:
    deadline = time.monotonic() + WAIT_TIMEOUT
    with action(f"Waiting for {addon['name']}"):
        while addon.get("state") == "provisioning":
            if time.monotonic() > deadline:
                raise CliError(f"{addon['name']} is still being created; check addons:info later.")
            time.sleep(WAIT_INTERVAL)
            addon = client.get_addon(app, addon["id"])
    return addon


def _report_created(addon: AddOn) -> None:
    message = addon.get("provision_message")
    if message:
        echo(message)
    if addon.get("state") == "provisioning":
        echo(
            f"{addon['name']} is being created in the background; "
            "the app restarts once it is ready."
        )
        echo(f"Use cove addons:info {addon['name']} to check on it.")
        return
    config_vars = addon.get("config_vars") or []
    suffix = f" as {', '.join(config_vars)}" if config_vars else ""
    echo(f"Created {addon['name']}{suffix}")


@click.command("addons:create")
@click.argument("plan", metavar="SERVICE[:PLAN]")
@click.argument("extra", nargs=-1, metavar="[-- --OPTION VALUE ...]")
@app_options
@click.option("--as", "attachment", metavar="NAME", help="name of the attachment (DB2 -> DB2_URL)")
@click.option("--name", metavar="NAME", help="name of the add-on (default: generated)")
@click.option("--wait", is_flag=True, help="wait until the add-on is provisioned")
@click.option("--json", "as_json", is_flag=True, help="output the add-on in JSON format")
@pass_state
def addons_create(
    state: CliState,
    app: str,
    plan: str,
    extra: tuple[str, ...],
    attachment: str | None,
    name: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Create an add-on (heroku-postgresql, heroku-redis) and attach it to the app."""
    config = parse_config_flags(extra)
    client = state.client()
    with action(f"Creating {plan} on {app_label(app)}"):
        addon = client.create_addon(
            app, plan, name=name, attachment=attachment, config=config or None
        )
    if wait and addon.get("state") == "provisioning":
        addon = _wait_until_provisioned(client, app, addon)
    if as_json:
        echo(json.dumps(addon, indent=2))
    else:
        _report_created(addon)


# -- addons:info ------------------------------------------------------------------------------


def info_pairs(addon: AddOn, attachments: list[Attachment]) -> list[tuple[str, str]]:
    owner = owner_name(addon)
    mine = [a for a in attachments if (a.get("addon") or {}).get("id") == addon["id"]]
    labels = sorted(f"{(a.get('app') or {}).get('name', '')}::{a['name']}" for a in mine)
    pairs = [("Attachments", ", ".join(labels))]
    if addon.get("created_at"):
        pairs.append(("Installed at", format_time(addon["created_at"])))
    pairs.append(("Owning app", owner))
    pairs.append(("Plan", plan_name(addon)))
    pairs.append(("Price", price_text(addon)))
    pairs.append(("State", state_text(addon)))
    return pairs


@click.command("addons:info")
@click.argument("addon")
@optional_app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def addons_info(state: CliState, app: str | None, addon: str, as_json: bool) -> None:
    """Show an add-on: owner, plan, state and attachments."""
    client = state.client()
    found = client.get_addon(app, addon)
    if as_json:
        echo(json.dumps(found, indent=2))
        return
    attachments = client.list_attachments()
    header(found["name"])
    for line in align_object(info_pairs(found, attachments)):
        echo(line)


# -- addons:destroy ---------------------------------------------------------------------------


@click.command("addons:destroy")
@click.argument("addon")
@app_options
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm destruction")
@pass_state
def addons_destroy(state: CliState, app: str, addon: str, confirm: str | None) -> None:
    """Permanently destroy an add-on and its data."""
    confirm_app(
        app,
        confirm,
        f"{addon} on {app_label(app)} will be destroyed, and all of its data deleted.",
    )
    client = state.client()
    found = client.get_addon(app, addon)
    owner = owner_name(found)
    if owner and owner != app:
        raise CliError(
            f"{found['name']} is owned by {app_label(owner)}, not {app_label(app)}.\n"
            f"Use cove addons:detach to remove it from {app}, or destroy it with -a {owner}."
        )
    with action(f"Destroying {found['name']} on {app_label(app)}"):
        client.destroy_addon(app, found["id"])


# -- addons:attach / addons:detach ------------------------------------------------------------


@click.command("addons:attach")
@click.argument("addon")
@app_options
@click.option("--as", "name", metavar="NAME", help="name of the attachment (DB2 -> DB2_URL)")
@pass_state
def addons_attach(state: CliState, app: str, addon: str, name: str | None) -> None:
    """Attach an existing add-on (of this or another app) to the app."""
    client = state.client()
    shown = f"{addon} as {name}" if name else addon
    with action(f"Attaching {shown} to {app_label(app)}"):
        attachment = client.attach_addon(addon, app, name=name)
    with action(
        f"Setting {attachment['name']} config vars and restarting {app_label(app)}"
    ) as status:
        status.detail = new_release_detail(client, app)


def _find_attachment(attachments: list[Attachment], wanted: str) -> Attachment | None:
    """By attachment name or id, config var (`DATABASE_URL`), or the name of an add-on
    attached just once."""
    for candidate in (wanted, var_label(wanted)):
        for attachment in attachments:
            if candidate in (attachment["name"], attachment["id"]):
                return attachment
    of_addon = [a for a in attachments if (a.get("addon") or {}).get("name") == wanted]
    if len(of_addon) > 1:
        names = ", ".join(sorted(a["name"] for a in of_addon))
        raise CliError(f"{wanted} is attached more than once ({names}): name the attachment.")
    return of_addon[0] if of_addon else None


@click.command("addons:detach")
@click.argument("attachment")
@app_options
@pass_state
def addons_detach(state: CliState, app: str, attachment: str) -> None:
    """Detach an add-on from the app (its config vars are removed)."""
    client = state.client()
    found = _find_attachment(client.list_attachments(app), attachment)
    if found is None:
        # Let the server decide (and word the error).
        target, shown = attachment, attachment
    else:
        target = found["id"]
        shown = f"{found['name']} to {(found.get('addon') or {}).get('name', '')}"
    with action(f"Detaching {shown} from {app_label(app)}"):
        detached = client.detach_addon(app, target)
    name = found["name"] if found is not None else attachment
    if isinstance(detached, dict) and detached.get("name"):
        name = detached["name"]
    with action(f"Unsetting {name} config vars and restarting {app_label(app)}") as status:
        status.detail = new_release_detail(client, app)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (addons_list, ("addons:list",)),
    (addons_create, ("addons:add",)),
    (addons_info, ()),
    (addons_destroy, ("addons:remove",)),
    (addons_attach, ()),
    (addons_detach, ()),
]
