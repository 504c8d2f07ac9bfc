"""`cove pipelines` and `pipelines:create/add/remove/update/info/rename/destroy/promote/diff`:
the Heroku CLI's pipelines commands, with its output."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from cove.cli.addons import ruled_table
from cove.cli.context import CliState, app_options, in_git_repo, pass_state, run_git
from cove.cli.output import CliError, action, align_object, app_label, echo, header, warn
from cove.client import ApiError, CoveClient
from cove.client.pipeline_types import Pipeline, PipelineCoupling, PromotionTarget

STAGES = ("test", "review", "development", "staging", "production")
PROMOTION_ORDER = ("development", "staging", "production")
DISPLAY_ORDER = ("development", "review", "staging", "production", "test")
# How `pipelines:create` guesses a pipeline name and stage from an app name, as Heroku does.
SUFFIXES = {
    "-dev": "development",
    "-development": "development",
    "-review": "review",
    "-stg": "staging",
    "-staging": "staging",
    "-prod": "production",
    "-production": "production",
}
F = TypeVar("F", bound=Callable[..., Any])
PROMOTION_TIMEOUT = 3600.0  # the release phase's own limit


def guess(app: str) -> tuple[str, str]:
    """(pipeline name, stage) for an app name: `shop-staging` → (`shop`, `staging`)."""
    for suffix, stage in sorted(SUFFIXES.items(), key=lambda s: -len(s[0])):
        if app.endswith(suffix) and len(app) > len(suffix):
            return app[: -len(suffix)], stage
    return app, "production"


def stage_option(required: bool = False) -> Callable[[F], F]:
    return click.option(
        "-s",
        "--stage",
        type=click.Choice(STAGES),
        required=required,
        help="stage of the app in the pipeline",
    )


def find_pipeline(client: CoveClient, ident: str) -> Pipeline:
    """By name (`GET /pipelines?eq[name]=`), or by id."""
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", ident):
        return client.get_pipeline(ident)
    found = client.list_pipelines(name=ident)
    if not found:
        raise CliError(f"Pipeline {ident} not found.")
    return found[0]


def app_coupling(client: CoveClient, app: str) -> PipelineCoupling:
    try:
        return client.get_app_coupling(app)
    except ApiError as exc:
        if exc.status == 404:
            raise CliError(f"{app_label(app)} is not in a pipeline.") from exc
        raise


def pipeline_apps(client: CoveClient, pipeline_id: str) -> list[tuple[str, str, str]]:
    """(app id, app name, stage) of every app in the pipeline, in stage order then by name."""
    couplings = client.list_pipeline_couplings(pipeline_id)
    names = {a["id"]: a["name"] for a in client.filter_apps([c["app"]["id"] for c in couplings])}
    rows = [
        (c["app"]["id"], names.get(c["app"]["id"], c["app"].get("name", "")), c["stage"])
        for c in couplings
    ]
    return sorted(rows, key=lambda r: (DISPLAY_ORDER.index(r[2]), r[1]))


# -- pipelines, create, add, remove, update -------------------------------------------------


@click.command("pipelines")
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def pipelines_list(state: CliState, as_json: bool) -> None:
    """List your pipelines."""
    found = state.client().list_pipelines()
    if as_json:
        echo(json.dumps(found, indent=2))
        return
    header("My Pipelines")
    for pipeline in found:
        echo(pipeline["name"])


@click.command("pipelines:create")
@click.argument("name", required=False)
@app_options
@stage_option()
@pass_state
def pipelines_create(state: CliState, app: str, name: str | None, stage: str | None) -> None:
    """Create a pipeline with APP as its first app (name and stage guessed from APP's name
    when not given)."""
    guessed_name, guessed_stage = guess(app)
    name = name or guessed_name
    stage = stage or guessed_stage
    client = state.client()
    with action(f"Creating {name} pipeline"):
        pipeline = client.create_pipeline(name)
    with action(f"Adding {app_label(app)} to {pipeline['name']} pipeline as {stage}"):
        client.create_coupling(pipeline["id"], app, stage)


@click.command("pipelines:add")
@click.argument("pipeline")
@app_options
@stage_option()
@pass_state
def pipelines_add(state: CliState, app: str, pipeline: str, stage: str | None) -> None:
    """Add an app to a pipeline."""
    stage = stage or guess(app)[1]
    client = state.client()
    found = find_pipeline(client, pipeline)
    with action(f"Adding {app_label(app)} to {found['name']} pipeline as {stage}"):
        client.create_coupling(found["id"], app, stage)


@click.command("pipelines:remove")
@app_options
@pass_state
def pipelines_remove(state: CliState, app: str) -> None:
    """Remove an app from its pipeline."""
    client = state.client()
    coupling = app_coupling(client, app)
    with action(f"Removing {app_label(app)}"):
        client.delete_coupling(coupling["id"])


@click.command("pipelines:update")
@app_options
@stage_option(required=True)
@pass_state
def pipelines_update(state: CliState, app: str, stage: str) -> None:
    """Change an app's stage in its pipeline."""
    client = state.client()
    coupling = app_coupling(client, app)
    with action(f"Changing {app_label(app)} to {stage}"):
        client.update_coupling(coupling["id"], stage)


# -- info, rename, destroy ------------------------------------------------------------------


@click.command("pipelines:info")
@click.argument("pipeline")
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def pipelines_info(state: CliState, pipeline: str, as_json: bool) -> None:
    """Show the apps of a pipeline and their stages."""
    client = state.client()
    found = find_pipeline(client, pipeline)
    rows = pipeline_apps(client, found["id"])
    if as_json:
        apps = [{"id": i, "name": n, "coupling": {"stage": s}} for i, n, s in rows]
        echo(json.dumps({"pipeline": found, "apps": apps}, indent=2))
        return
    header(found["name"])
    echo(f"owner: {client.get_account()['email']}")
    echo()
    for line in ruled_table(["app name", "stage"], [[name, stage] for _, name, stage in rows]):
        echo(line)


@click.command("pipelines:rename")
@click.argument("pipeline")
@click.argument("name")
@pass_state
def pipelines_rename(state: CliState, pipeline: str, name: str) -> None:
    """Rename a pipeline."""
    client = state.client()
    found = find_pipeline(client, pipeline)
    with action(f"Renaming {found['name']} pipeline to {name}"):
        client.rename_pipeline(found["id"], name)


@click.command("pipelines:destroy")
@click.argument("pipeline")
@pass_state
def pipelines_destroy(state: CliState, pipeline: str) -> None:
    """Destroy a pipeline (its apps stay)."""
    client = state.client()
    found = find_pipeline(client, pipeline)
    with action(f"Destroying {found['name']} pipeline"):
        client.delete_pipeline(found["id"])


# -- promote --------------------------------------------------------------------------------


def promotion_targets(
    source: PipelineCoupling, apps: Sequence[tuple[str, str, str]], to: str | None
) -> tuple[str, list[tuple[str, str, str]]]:
    """What to say and which apps to promote to: `--to` apps (any stage of the pipeline), or
    every app of the next stage."""
    if to:
        wanted = [name for name in to.split(",") if name]
        targets = []
        for name in wanted:
            if name in (source["app"]["id"], source["app"].get("name")):
                raise CliError(f"Cannot promote from an app to itself: {name}.")
            match = next((a for a in apps if name in (a[0], a[1])), None)
            if match is None:
                raise CliError(f"Cannot find app {name} in pipeline {source['pipeline']['name']}.")
            targets.append(match)
        return f"Starting promotion to apps: {','.join(wanted)}", targets
    stage = source["stage"]
    if stage not in PROMOTION_ORDER or stage == PROMOTION_ORDER[-1]:
        raise CliError(f"Cannot promote {source['app'].get('name')} from '{stage}' stage")
    next_stage = PROMOTION_ORDER[PROMOTION_ORDER.index(stage) + 1]
    targets = [a for a in apps if a[2] == next_stage]
    if not targets:
        raise CliError(
            f"Cannot promote from {app_label(source['app'].get('name', ''))} as there are no "
            f"downstream apps in {next_stage} stage"
        )
    return f"Starting promotion to {next_stage}", targets


@click.command("pipelines:promote")
@app_options
@click.option("-t", "--to", metavar="APP,...", help="comma-separated list of apps to promote to")
@pass_state
def pipelines_promote(state: CliState, app: str, to: str | None) -> None:
    """Promote the app's current release (its slug, no build) to its downstream app(s); each
    target keeps its own config vars and add-ons."""
    client = state.client()
    echo("Fetching app info...")
    source = app_coupling(client, app)
    echo(f"Fetching apps from {source['pipeline']['name']}...")
    apps = pipeline_apps(client, source["pipeline"]["id"])
    message, targets = promotion_targets(source, apps, to)
    echo(f"{message}...")
    echo("Waiting for promotion to complete...")
    promotion = client.create_promotion(
        source["pipeline"]["id"], source["app"]["id"], [t[0] for t in targets]
    )
    by_id = {a[0]: a for a in apps}
    results = _follow(client, promotion["id"], {a[0]: a[1] for a in apps})
    rows = []
    for target in results:
        _, name, stage = by_id.get(target["app"]["id"], ("", target["app"]["id"], ""))
        release = target.get("release")
        version = (
            f"v{client.get_release(name, release['id'])['version']}" if release else "no release"
        )
        prefix = f"Promoting {source['app'].get('name', app)} to {name} ({stage})... "
        if target["status"] == "succeeded":
            echo(f"{prefix}done, {version}")
        else:
            echo(f"{prefix}failed")
        rows.append((name, target["status"], target.get("error_message") or ""))
    echo()
    if all(status == "succeeded" for _, status, _ in rows):
        echo("Promotion successful")
    else:
        warn("Promotion to some apps failed")
    # Heroku's layout: the status, and a failed target's error on the next line, aligned.
    width = max(len(name) for name, _, _ in rows) + 2
    lines = align_object([(name, status) for name, status, _ in rows])
    for line, (_, _, error) in zip(lines, rows, strict=True):
        echo(line)
        if error:
            echo(" " * width + error)
    if any(status != "succeeded" for _, status, _ in rows):
        raise SystemExit(1)


def _follow(client: CoveClient, promotion_id: str, names: dict[str, str]) -> list[PromotionTarget]:
    """The targets once none is pending. Each target's release command output is shown
    once (streamed live while it runs, replayed if it has already ended: its stream ends
    when the release phase has); a target without a release yet is asked for again."""
    deadline = time.monotonic() + PROMOTION_TIMEOUT
    shown: set[str] = set()
    while True:
        targets = client.list_promotion_targets(promotion_id)
        target = next((t for t in targets if t.get("release") and t["id"] not in shown), None)
        if target is None:
            if all(t["status"] != "pending" for t in targets):
                return targets
            if time.monotonic() > deadline:
                raise CliError("The promotion did not complete in time; see `cove releases`.")
            time.sleep(1)  # a release not made yet: ask again, as the Heroku CLI does
            continue
        shown.add(target["id"])
        release = target["release"]
        assert release is not None
        url = client.get_release(target["app"]["id"], release["id"]).get("output_stream_url")
        if url:
            name = names.get(target["app"]["id"], target["app"]["id"])
            echo(f"Running release command on {app_label(name)}...")
            for line in client.stream_build_output(url):
                echo(line)


# -- diff -----------------------------------------------------------------------------------


def _commit(client: CoveClient, app_id: str) -> str | None:
    """The commit of the app's current release's slug."""
    for release in client.list_releases(app_id, limit=10, descending=True):
        if release.get("status") == "succeeded" and release.get("slug"):
            slug = release["slug"]
            assert slug is not None
            return client.get_slug(app_id, slug["id"]).get("commit")
    return None


def _git_log(base: str, head: str) -> list[str] | None:
    """`git log` lines of the commits in ``head`` but not in ``base``, if the repository at
    the cwd has both commits."""
    if not in_git_repo():
        return None
    for commit in (base, head):
        if run_git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            return None
    log = run_git("log", "--format=%h  %ad  %s  (%an)", "--date=short", f"{base}..{head}")
    return log.stdout.splitlines() if log.returncode == 0 else None


@click.command("pipelines:diff")
@app_options
@pass_state
def pipelines_diff(state: CliState, app: str) -> None:
    """Compare the app's current release with its downstream app(s): the commits between."""
    client = state.client()
    source = app_coupling(client, app)
    stage = source["stage"]
    if stage not in PROMOTION_ORDER or stage == PROMOTION_ORDER[-1]:
        raise CliError(f"Unable to diff {app}: nothing is downstream of the {stage} stage.")
    next_stage = PROMOTION_ORDER[PROMOTION_ORDER.index(stage) + 1]
    downstream = [a for a in pipeline_apps(client, source["pipeline"]["id"]) if a[2] == next_stage]
    if not downstream:
        raise CliError(f"Cannot diff {app} as there are no downstream apps configured")
    head = _commit(client, source["app"]["id"])
    if head is None:
        raise CliError(f"No release was found for {app}, unable to diff")
    for app_id, name, _ in downstream:
        base = _commit(client, app_id)
        echo()
        if base is None:
            echo(f"{app} was not compared to {name} as {name} does not have any releases")
        elif base == head:
            echo(f"{app} is up to date with {name}")
        else:
            lines = _git_log(base, head)
            if lines is None:
                header(f"{app} is at {head[:7]}, {name} at {base[:7]}")
                echo("(this repository doesn't have both commits: run git fetch to list them)")
            else:
                plural = "" if len(lines) == 1 else "s"
                header(f"{app} is ahead of {name} by {len(lines)} commit{plural}")
                for line in lines:
                    echo(line)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (pipelines_list, ("pipelines:list",)),
    (pipelines_create, ()),
    (pipelines_add, ()),
    (pipelines_remove, ()),
    (pipelines_update, ()),
    (pipelines_info, ()),
    (pipelines_rename, ()),
    (pipelines_destroy, ()),
    (pipelines_promote, ()),
    (pipelines_diff, ()),
]
