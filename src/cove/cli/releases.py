"""`cove releases`, `releases:info`, `releases:rollback`."""

from __future__ import annotations

import json
import re

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import (
    CliError,
    action,
    align_object,
    app_label,
    echo,
    format_time,
    header,
    table,
    warn,
)
from cove.client import ApiError, CoveClient, Release

DEFAULT_LIMIT = 15
STATUS_TEXT = {
    "pending": "release command executing",
    "failed": "release command failed",
    "expired": "release expired",
}


def status_text(release: Release) -> str:
    return STATUS_TEXT.get(release.get("status") or "", "")


def _user(release: Release) -> str:
    return (release.get("user") or {}).get("email", "")


def release_rows(releases: list[Release]) -> list[str]:
    rows = []
    for rel in releases:
        description = rel.get("description") or ""
        extra = status_text(rel)
        if extra:
            description = f"{description} {extra}".strip()
        rows.append([f"v{rel['version']}", description, _user(rel), format_time(rel["created_at"])])
    return table(rows)


def parse_version(value: str) -> int:
    match = re.fullmatch(r"v?(\d+)", value.strip())
    if not match:
        raise click.BadParameter(f"{value!r} is not a release version like v12.")
    return int(match.group(1))


@click.command("releases")
@app_options
@click.option("-n", "--num", type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def releases_list(state: CliState, app: str, num: int, as_json: bool) -> None:
    """List the releases of an app, newest first."""
    releases = state.client().list_releases(app, limit=num, descending=True)
    releases = sorted(releases, key=lambda r: r["version"], reverse=True)[:num]
    if as_json:
        echo(json.dumps(releases, indent=2))
        return
    if not releases:
        echo(f"{app_label(app)} has no releases.")
        return
    current = next((r for r in releases if r.get("current")), None)
    title = f"{app_label(app)} Releases"
    if current is not None:
        title += f" - Current: v{current['version']}"
    header(title)
    for line in release_rows(releases):
        echo(line)


def _latest(client: CoveClient, app: str) -> Release:
    releases = client.list_releases(app, limit=1, descending=True)
    if not releases:
        raise CliError(f"No releases found for {app}.")
    return releases[0]


@click.command("releases:info")
@click.argument("release", required=False)
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def releases_info(state: CliState, app: str, release: str | None, as_json: bool) -> None:
    """Show detailed information about a release (default: the latest)."""
    client = state.client()
    if release is None:
        rel = _latest(client, app)
    else:
        rel = client.get_release(app, parse_version(release))
    if as_json:
        echo(json.dumps(rel, indent=2))
        return
    header(f"Release v{rel['version']}")
    pairs = [("Version", f"v{rel['version']}")]
    if rel.get("addon_plan_names"):
        pairs.append(("Add-ons", ", ".join(rel["addon_plan_names"])))
    pairs += [
        ("By", _user(rel)),
        ("Change", rel.get("description") or ""),
        ("When", format_time(rel["created_at"])),
        ("Status", rel.get("status") or ""),
    ]
    for line in align_object(pairs):
        echo(line)


def _rollback_target(client: CoveClient, app: str, release: str | None) -> Release:
    if release is not None:
        return client.get_release(app, parse_version(release))
    releases = client.list_releases(app, limit=10, descending=True)
    releases = sorted(releases, key=lambda r: r["version"], reverse=True)
    candidates = [r for r in releases if r.get("status", "succeeded") == "succeeded"]
    if len(candidates) < 2:
        raise CliError(f"No previous release to roll back to on {app_label(app)}.")
    return candidates[1]


@click.command("releases:rollback")
@click.argument("release", required=False)
@app_options
@pass_state
def releases_rollback(state: CliState, app: str, release: str | None) -> None:
    """Roll back to a previous release (default: the one before the current)."""
    client = state.client()
    target = _rollback_target(client, app, release)
    with action(f"Rolling back {app_label(app)} to v{target['version']}") as status:
        new = client.rollback_release(app, target["id"])
        status.detail = f"v{new['version']}"
    warn("Rollback affects code and config vars; it doesn't add or remove addons.")
    warn(f"To undo, run: cove rollback v{new['version'] - 1}")
    stream_url = new.get("output_stream_url")
    if stream_url:
        try:
            for line in client.stream_build_output(stream_url):
                echo(line)
        except ApiError as exc:
            if exc.status != 404:
                raise
            warn("Release command output is not available.")
        if client.get_release(app, new["id"])["status"] == "failed":
            raise CliError(
                f"Release command failed: v{new['version']} was not deployed; the release that "
                "was running before keeps running."
            )


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (releases_list, ()),
    (releases_info, ()),
    (releases_rollback, ("rollback",)),
]
