"""Installing the app's dependencies, pruning the dev ones, and explaining failures."""

from __future__ import annotations

from output import BuildError, stream
from package_manager import INSTALL_HINT, Manager


def install_command(manager: Manager) -> list[str]:
    if manager.name == "pnpm":
        return ["pnpm", "install", "--prod=false", "--frozen-lockfile"]
    if manager.name == "yarn" and manager.berry:
        return ["yarn", "install", "--immutable"]
    if manager.name == "yarn":
        return [
            "yarn",
            "install",
            "--production=false",
            "--frozen-lockfile",
            "--ignore-engines",
            "--prefer-offline",
        ]
    # npm: dev dependencies too (NODE_ENV=production would leave them out): builds need them.
    return ["npm", "ci" if manager.frozen else "install", "--include=dev"]


def prune_command(manager: Manager) -> list[str]:
    if manager.name == "pnpm":
        return ["pnpm", "prune", "--prod", "--ignore-scripts"]
    if manager.name == "yarn" and manager.berry:
        return ["yarn", "workspaces", "focus", "--all", "--production"]
    if manager.name == "yarn":
        return [
            "yarn",
            "install",
            "--production=true",
            "--frozen-lockfile",
            "--ignore-engines",
            "--ignore-scripts",
            "--prefer-offline",
        ]
    return ["npm", "prune", "--omit=dev"]


# What each package manager says when the lockfile doesn't match package.json.
OUT_OF_SYNC = (
    "can only install packages when your package.json and package-lock.json",
    "`npm ci` can only install",
    "Your lockfile needs to be updated",
    "YN0028",
    "ERR_PNPM_OUTDATED_LOCKFILE",
    "ERR_PNPM_LOCKFILE_CONFIG_MISMATCH",
)


def explain_failure(manager: Manager, command: list[str], status: int, tail: str) -> str:
    if any(marker in tail for marker in OUT_OF_SYNC):
        return (
            f"{manager.lockfile} is not in sync with package.json.\n"
            f"The build installs exactly what the lockfile says ({' '.join(command[:2])}), and "
            "package.json asks for something it doesn't have.\n"
            f"Run `{INSTALL_HINT[manager.name]}` in the app's directory, commit "
            f"{manager.lockfile} and push again."
        )
    return (
        f"Installing dependencies failed: `{' '.join(command)}` exited with status {status}.\n"
        "The output above says why."
    )


def install(manager: Manager, env: dict[str, str], build_dir: str) -> None:
    command = install_command(manager)
    status, tail = stream(command, env, build_dir)
    if status != 0:
        raise BuildError(explain_failure(manager, command, status, tail))


def prune(manager: Manager, env: dict[str, str], build_dir: str) -> None:
    command = prune_command(manager)
    status, _ = stream(command, env, build_dir)
    if status != 0:
        raise BuildError(
            f"Pruning devDependencies failed: `{' '.join(command)}` exited with status "
            f"{status}.\nTo keep them instead, set NPM_CONFIG_PRODUCTION=false "
            "(YARN_PRODUCTION=false for Yarn)."
        )


def prune_skipped(manager: Manager, env: dict[str, str]) -> str | None:
    """Why devDependencies stay in the slug, or None to prune them (as Heroku decides)."""
    if env.get("NODE_ENV", "production") != "production":
        return f"Skipping because NODE_ENV is not 'production' ({env.get('NODE_ENV')})"
    if env.get("NPM_CONFIG_PRODUCTION", "").lower() == "false":
        return "Skipping because NPM_CONFIG_PRODUCTION is 'false'"
    if manager.name == "yarn" and env.get("YARN_PRODUCTION", "").lower() == "false":
        return "Skipping because YARN_PRODUCTION is 'false'"
    return None
