"""Run Django's collectstatic, like Heroku, when the app is a Django app."""

from __future__ import annotations

import os

from output import BuildError, detail, display_path, run, step
from venv_info import has_module

MAX_DEPTH = 3  # manage.py may be at most two directories below the app root
SKIP_DIRS = {"node_modules", "venv", "__pycache__"}


def find_manage_py(build_dir: str) -> str | None:
    """The shallowest manage.py within MAX_DEPTH levels (hidden dirs skipped), by path order."""
    level = [build_dir]
    for _ in range(MAX_DEPTH):
        found = sorted(os.path.join(d, "manage.py") for d in level)
        found = [path for path in found if os.path.isfile(path)]
        if found:
            return found[0]
        next_level: list[str] = []
        for d in level:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            next_level += [
                e.path
                for e in entries
                if e.is_dir(follow_symlinks=False)
                and not e.name.startswith(".")
                and e.name not in SKIP_DIRS
            ]
        level = next_level
    return None


def _disabled(config: dict[str, str]) -> bool:
    value = config.get("DISABLE_COLLECTSTATIC", os.environ.get("DISABLE_COLLECTSTATIC", ""))
    return value.strip() not in ("", "0")


def collectstatic(build_dir: str, venv: str, env: dict[str, str], config: dict[str, str]) -> None:
    manage_py = find_manage_py(build_dir)
    if manage_py is None or not has_module(venv, "django"):
        return
    if _disabled(config):
        step("Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set.")
        return
    if os.path.exists(os.path.join(build_dir, ".heroku", "collectstatic_disabled")):
        step("Skipping Django collectstatic since .heroku/collectstatic_disabled exists.")
        return
    shown = f"python {display_path(manage_py, build_dir)} collectstatic --noinput"
    step(f"$ {shown}")
    python = os.path.join(venv, "bin", "python")
    code = run([python, manage_py, "collectstatic", "--noinput", "--traceback"], env, build_dir)
    if code == 0:
        return
    if env.get("DEBUG_COLLECTSTATIC") == "1":
        step("Collectstatic environment variables:")
        detail("\n".join(f"{k}={v}" for k, v in sorted(env.items())))
    raise BuildError(
        f"Error while running '$ {shown}'.\n"
        "See the traceback above for details.\n"
        "\n"
        "You may need to update the application code to resolve this error.\n"
        "Or you can disable collectstatic for this application:\n"
        "\n"
        "   $ cove config:set DISABLE_COLLECTSTATIC=1"
    )
