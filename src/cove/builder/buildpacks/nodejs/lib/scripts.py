"""The app's lifecycle scripts from package.json, run with its package manager, as
Heroku runs them: heroku-prebuild, then heroku-postbuild (or else build), heroku-cleanup."""

from __future__ import annotations

from output import BuildError, detail, stream
from package_json import PackageJson
from package_manager import Manager


def run(name: str, manager: Manager, pkg: PackageJson, env: dict[str, str], cwd: str) -> bool:
    """Run script ``name`` if package.json has it; False if it has none."""
    if not pkg.has_script(name):
        return False
    detail(f"Running '{name}' script")
    command = [manager.name, "run", name]
    status, _ = stream(command, env, cwd)
    if status != 0:
        raise BuildError(
            f"The '{name}' script failed: `{' '.join(command)}` exited with status {status}.\n"
            "The output above says why. Fix it, commit and push again (run it locally with "
            f"`{' '.join(command)}`)."
        )
    return True


def build(manager: Manager, pkg: PackageJson, env: dict[str, str], cwd: str) -> None:
    """heroku-postbuild when the app has it (it replaces build), else build."""
    if not run("heroku-postbuild", manager, pkg, env, cwd) and not run(
        "build", manager, pkg, env, cwd
    ):
        detail("No build script found (package.json has neither 'build' nor 'heroku-postbuild')")
