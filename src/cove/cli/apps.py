"""`cove apps`, `apps:create`, `apps:info`, `apps:destroy` and `open`."""

from __future__ import annotations

import json
import webbrowser
from collections import Counter

import click

from cove.cli.app_json import check_app_json
from cove.cli.app_json import describe as describe_app_json
from cove.cli.context import CliState, app_options, in_git_repo, pass_state
from cove.cli.git import DEFAULT_REMOTE, remotes_for_app, remove_remotes, set_remote
from cove.cli.output import (
    action,
    app_label,
    echo,
    format_size,
    header,
    require_confirmation,
    styled_object,
    warn,
)
from cove.client import ApiError, App, CoveClient, Dyno


@click.command("apps")
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def apps_list(state: CliState, as_json: bool) -> None:
    """List your apps."""
    client = state.client()
    apps = sorted(client.list_apps(), key=lambda a: a["name"])
    if as_json:
        echo(json.dumps(apps, indent=2))
        return
    email = client.get_account()["email"]
    owned = [a for a in apps if (a.get("owner") or {}).get("email") in (email, None)]
    shared = [a for a in apps if a not in owned]
    if not apps:
        echo("You have no apps.")
        return
    header(f"{email} Apps")
    for app in owned:
        echo(_app_line(app))
    if shared:
        echo()
        header("Collaborated Apps")
        for app in shared:
            echo(f"{_app_line(app)}  {app['owner']['email']}")


# Regions not worth printing after every app name: Heroku's default, and Cove's only one.
DEFAULT_REGIONS = {"us", "local"}


def _app_line(app: App) -> str:
    region = (app.get("region") or {}).get("name")
    suffix = f" ({region})" if region and region not in DEFAULT_REGIONS else ""
    if app.get("maintenance"):
        suffix += " (maintenance)"
    return f"{app['name']}{suffix}"


@click.command("apps:create")
@click.argument("name", required=False)
@click.option("-r", "--remote", default=DEFAULT_REMOTE, show_default=True, help="git remote name")
@click.option("--no-remote", is_flag=True, help="do not create a git remote")
@click.option("--region", help="region to create the app in")
@click.option("--stack", help="stack to create the app on")
@click.option("-b", "--buildpack", help="buildpack URL to use for this app")
@click.option("--json", "as_json", is_flag=True, help="output the app in JSON format")
@pass_state
def apps_create(
    state: CliState,
    name: str | None,
    remote: str,
    no_remote: bool,
    region: str | None,
    stack: str | None,
    buildpack: str | None,
    as_json: bool,
) -> None:
    """Create a new app (and a git remote for it in the current repo)."""
    manifest = check_app_json()  # a broken app.json is refused before the app exists
    client = state.client()
    message = f"Creating {app_label(name)}" if name else "Creating app"
    with action(message) as status:
        app = client.create_app(name, region=region, stack=stack)
        if not name:
            status.detail = app_label(app["name"])
    if buildpack:
        client.update_buildpack_installations(app["name"], [buildpack])
    if not no_remote and in_git_repo():
        set_remote(remote, app["git_url"])
    if as_json:
        echo(json.dumps(app, indent=2))
    else:
        echo(f"{app['web_url']} | {app['git_url']}")
    if manifest is not None:
        describe_app_json(manifest)


@click.command("apps:info")
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def apps_info(state: CliState, app: str, as_json: bool) -> None:
    """Show detailed app information."""
    client = state.client()
    info = client.get_app(app)
    dynos = client.list_dynos(app)
    if as_json:
        echo(json.dumps({"app": info, "dynos": dynos}, indent=2))
        return
    header(info["name"])
    styled_object(info_pairs(info, dynos, _pipeline(client, app)))


def _pipeline(client: CoveClient, app: str) -> str | None:
    """`NAME - STAGE` of the app's pipeline, as apps:info shows it (None: in no pipeline)."""
    try:
        coupling = client.get_app_coupling(app)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return f"{coupling['pipeline']['name']} - {coupling['stage']}"


def info_pairs(info: App, dynos: list[Dyno], pipeline: str | None = None) -> list[tuple[str, str]]:
    counts = Counter(d["type"] for d in dynos)
    pairs = [("Dynos", ", ".join(f"{t}: {n}" for t, n in sorted(counts.items())))]
    pairs.append(("Git URL", info.get("git_url") or ""))
    if info.get("maintenance"):
        pairs.append(("Maintenance", "on"))
    pairs.append(("Owner", (info.get("owner") or {}).get("email", "")))
    if pipeline:
        pairs.append(("Pipeline", pipeline))
    pairs.append(("Region", (info.get("region") or {}).get("name", "")))
    if info.get("repo_size"):
        pairs.append(("Repo Size", format_size(info["repo_size"])))
    if info.get("slug_size"):
        pairs.append(("Slug Size", format_size(info["slug_size"])))
    pairs.append(("Stack", (info.get("stack") or {}).get("name", "")))
    if info.get("create_status") not in (None, "complete"):
        pairs.append(("Status", info["create_status"]))
    pairs.append(("Web URL", info.get("web_url") or ""))
    return pairs


@click.command("apps:destroy")
@app_options
@click.option("-c", "--confirm", metavar="NAME", help="the app name, to confirm destruction")
@pass_state
def apps_destroy(state: CliState, app: str, confirm: str | None) -> None:
    """Permanently destroy an app."""
    require_confirmation(
        app,
        confirm,
        refusal=f"This will permanently destroy {app_label(app)} including all add-ons.",
        prompt=f"WARNING: This will delete {app_label(app)} including all add-ons.",
    )
    client = state.client()
    with action(f"Destroying {app_label(app)} (including all add-ons)"):
        deleted = client.delete_app(app)
    git_url = (deleted or {}).get("git_url")
    remove_remotes(remotes_for_app(app, git_url, state.api_url))


@click.command("apps:rename")
@click.argument("newname")
@app_options
@pass_state
def apps_rename(state: CliState, app: str, newname: str) -> None:
    """Rename an app (and the git remotes of the current repo that point at it)."""
    client = state.client()
    old = client.get_app(app)
    with action(f"Renaming {app_label(app)} to {app_label(newname)}"):
        renamed = client.update_app(app, name=newname)
    echo(f"{renamed['web_url']} | {renamed['git_url']}")
    if not in_git_repo():
        return
    for remote in remotes_for_app(app, old.get("git_url"), state.api_url):
        set_remote(remote, renamed["git_url"])
        echo(f"Git remote {remote} updated")
    warn("Don't forget to update git remotes for all other local checkouts of the app.")


@click.command("open")
@click.argument("path", required=False, default="")
@app_options
@pass_state
def open_app(state: CliState, app: str, path: str) -> None:
    """Open the app's web URL in a browser."""
    url = state.client().get_app(app)["web_url"]
    if path:
        url = url.rstrip("/") + "/" + path.lstrip("/")
    echo(url)
    webbrowser.open(url)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (apps_list, ("apps:list",)),
    (apps_create, ("create",)),
    (apps_info, ("info",)),
    (apps_destroy, ("destroy",)),
    (apps_rename, ("rename",)),
    (open_app, ("apps:open",)),
]
