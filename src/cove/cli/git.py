"""`cove git:remote` and the git remote helpers used by apps:create / apps:destroy."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cove.cli import trust
from cove.cli.context import (
    CliState,
    app_from_git_url,
    git_remotes,
    in_git_repo,
    pass_state,
    points_at_api,
    run_git,
)
from cove.cli.output import CliError, echo

DEFAULT_REMOTE = "cove"


def set_remote(name: str, url: str, cwd: Path | None = None) -> None:
    """`git remote add`, or `git remote set-url` when the remote already exists."""
    verb = "set-url" if name in git_remotes(cwd) else "add"
    proc = run_git("remote", verb, name, url, cwd=cwd)
    if proc.returncode != 0:
        raise CliError(f"git remote {verb} {name} failed: {proc.stderr.strip()}")
    trust.git_trust(url, cwd)  # an https remote signed by Cove's CA: git must trust it too


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}".rstrip("/")


def remotes_for_app(
    app: str, git_url: str | None, base_url: str, cwd: Path | None = None
) -> list[str]:
    """Remotes of the cwd repo that point to `app` (its `git_url`, or `/<app>.git` on the API)."""
    wanted = _strip_userinfo(git_url) if git_url else None
    matches = []
    for remote, url in git_remotes(cwd).items():
        same_url = wanted is not None and _strip_userinfo(url) == wanted
        same_app = app_from_git_url(url) == app and points_at_api(url, base_url)
        if same_url or same_app:
            matches.append(remote)
    return sorted(matches)


def remove_remotes(names: list[str], cwd: Path | None = None) -> None:
    for name in names:
        run_git("remote", "remove", name, cwd=cwd)


@click.command("git:remote")
@click.option("-a", "--app", metavar="NAME", help="app to point the remote at")
@click.option(
    "-r", "--remote", default=DEFAULT_REMOTE, show_default=True, help="git remote name to set"
)
@pass_state
def git_remote(state: CliState, app: str | None, remote: str) -> None:
    """Add (or update) a git remote for an app."""
    app = app or os.environ.get("COVE_APP")
    if not app:
        raise click.UsageError("Specify an app with --app NAME.")
    if not in_git_repo():
        raise CliError("Not inside a git repository. Run `git init` first.")
    info = state.client().get_app(app)
    set_remote(remote, info["git_url"])
    echo(f"set git remote {remote} to {info['git_url']}")


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(git_remote, ())]
