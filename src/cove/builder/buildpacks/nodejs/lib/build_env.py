"""The environment of the build's Node.js commands: the app's config vars (as Heroku
exports them to the Node.js build), Heroku's defaults, and the tools on PATH."""

from __future__ import annotations

import os
import re

# Config vars never exported into the build (Heroku's list): they would break it.
BLOCKED = re.compile(r"^(PATH|GIT_DIR|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LANG|BUILD_DIR)$")
DEFAULTS = {
    "NODE_ENV": "production",
    "NPM_CONFIG_LOGLEVEL": "error",
    "NODE_MODULES_CACHE": "true",
    "NODE_VERBOSE": "false",
}
SHOWN = ("NPM_CONFIG_", "YARN_", "NODE_", "USE_NPM_", "USE_YARN_")


def read_config_vars(env_dir: str) -> dict[str, str]:
    """ENV_DIR's files (one per config var), less the blocked ones."""
    entries = os.scandir(env_dir) if env_dir and os.path.isdir(env_dir) else []
    return {
        entry.name: value
        for entry in entries
        if entry.is_file()
        and not BLOCKED.match(entry.name)
        and (value := _text(entry.path)) is not None
    }


def _text(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode()
    except (OSError, UnicodeDecodeError):
        return None


def tool_path(build_dir: str) -> str:
    """The build's tools, first: engines.npm's npm, Node.js, Yarn, pnpm, the app's bins."""
    heroku = os.path.join(build_dir, ".heroku")
    dirs = [os.path.join(heroku, name, "bin") for name in ("npm", "node", "yarn", "pnpm")]
    return ":".join([*dirs, os.path.join(build_dir, "node_modules", ".bin")])


def make(environ: dict[str, str], config: dict[str, str], build_dir: str) -> dict[str, str]:
    env = {**environ, **config}
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    env["PATH"] = f"{tool_path(build_dir)}:{environ.get('PATH', '/usr/bin:/bin')}"
    env["NODE_HOME"] = os.path.join(build_dir, ".heroku", "node")
    env.setdefault("NODE_OPTIONS", "--max_old_space_size=2560")
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env.pop("COVE_BUILDPACK_PYTHON", None)
    return env


def with_caches(env: dict[str, str], dirs: dict[str, str], build_dir: str, berry: bool) -> None:
    """Point each package manager's cache into the build cache (``dirs``: npm, yarn,
    pnpm, xdg), so nothing of them lands in the slug under HOME=/app."""
    env["npm_config_cache"] = dirs["npm"]
    env["npm_config_store_dir"] = dirs["pnpm"]  # pnpm < 11
    env["pnpm_config_store_dir"] = dirs["pnpm"]
    env["XDG_CACHE_HOME"] = dirs["xdg"]
    env["XDG_DATA_HOME"] = dirs["xdg"]
    if berry:
        # Yarn 2+ resolves packages from its cache at run time under Plug'n'Play: the
        # cache stays in the app (copied to and from the build cache), not in HOME.
        env.setdefault("YARN_ENABLE_GLOBAL_CACHE", "false")
        env.setdefault("YARN_CACHE_FOLDER", os.path.join(build_dir, ".yarn", "cache"))
        env.setdefault("YARN_ENABLE_TELEMETRY", "0")
    else:
        env["YARN_CACHE_FOLDER"] = dirs["yarn"]


def shown(config: dict[str, str]) -> list[str]:
    """The config vars that change how Node.js builds, for the build output."""
    return [f"{k}={v}" for k, v in sorted(config.items()) if k.startswith(SHOWN)]
