"""bin/release BUILD_DIR: YAML with add-ons for the first deploy and default process types.

Like Heroku's Python buildpack: no default process types (the app's Procfile decides), and
Postgres for Django apps that have a Postgres driver installed.
"""

from __future__ import annotations

import os
import sys

from venv_info import has_module


def addons(build_dir: str) -> list[str]:
    venv = os.path.join(build_dir, ".heroku", "python")
    if (
        os.path.isfile(os.path.join(build_dir, "manage.py"))
        and has_module(venv, "django")
        and (has_module(venv, "psycopg2") or has_module(venv, "psycopg"))
    ):
        return ["heroku-postgresql"]
    return []


def release_yaml(build_dir: str) -> str:
    found = addons(build_dir)
    lines = ["---", "addons:" + ("" if found else " []")]
    lines += [f"  - {name}" for name in found]
    lines.append("default_process_types: {}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: bin/release BUILD_DIR", file=sys.stderr)
        return 2
    sys.stdout.write(release_yaml(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
