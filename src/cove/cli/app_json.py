"""app.json at `cove apps:create`: checked before the app exists, so a broken manifest is
reported at once rather than at the first push (which is where it is applied)."""

from __future__ import annotations

from pathlib import Path

import click

from cove.cli.context import run_git
from cove.cli.output import CliError
from cove.domain.app_json import AppJson, AppJsonInvalid, parse


def check_app_json(cwd: Path | None = None) -> AppJson | None:
    """The app.json at the top of the current git repository, checked; None if there is
    none (or no repository). Raises CliError naming the field and rule when it is invalid."""
    try:
        top = run_git("rev-parse", "--show-toplevel", cwd=cwd)
    except OSError:
        return None
    path = Path(top.stdout.strip()) / "app.json"
    if top.returncode != 0 or not path.is_file():
        return None
    try:
        return parse(path.read_bytes())
    except AppJsonInvalid as exc:
        raise CliError(f"{exc.message}\nFix app.json, then run this command again.") from None


def describe(manifest: AppJson) -> None:
    """What the first deploy will do with app.json, on stderr (stdout stays the app's)."""
    parts = []
    if manifest.env:
        parts.append(f"config vars {', '.join(var.key for var in manifest.env)}")
    if manifest.addons:
        parts.append(f"add-ons {', '.join(spec.plan for spec in manifest.addons)}")
    if manifest.formation:
        scale = [
            f"{t}={f.quantity}" for t, f in manifest.formation.items() if f.quantity is not None
        ]
        parts.append(f"formation {' '.join(scale) or '(sizes)'}")
    if manifest.postdeploy:
        parts.append("the postdeploy script")
    if not parts:
        return
    click.echo(f"app.json will be applied at the first deploy: {'; '.join(parts)}.", err=True)
    missing = manifest.missing_required({})
    if missing:
        click.echo(
            f"Required config vars without a value: {', '.join(missing)}. Set them with "
            "`cove config:set` before the first push.",
            err=True,
        )
