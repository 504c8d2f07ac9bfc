"""bin/compile BUILD_DIR CACHE_DIR ENV_DIR: check static.json and the site's root, and put
the server into the app: ``.heroku/static/`` (the server, and ``python``, a link to the
interpreter that ran this build, which the stack binds into every dyno) and ``bin/boot``,
the web process."""

from __future__ import annotations

import compileall
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from static_server.config import ConfigError, load

LIB = Path(__file__).resolve().parent
BOOT = """#!/usr/bin/env bash
# Written by Cove's static buildpack (cove/static): serves the site static.json describes
# on $PORT. The interpreter is the stack's one that built the app, else python3 on PATH.
app="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$app/.heroku/static/python"
if [ ! -x "$python" ]; then
    python="$(command -v python3 || true)"
fi
if [ -z "$python" ]; then
    echo "static: no Python interpreter to run the server with: deploy again" >&2
    exit 1
fi
exec "$python" -E -s "$app/.heroku/static/serve.py" "$app"
"""


def step(text: str) -> None:
    print(f"-----> {text}", flush=True)


def fail(text: str) -> None:
    print(f" !     {text}", flush=True)
    sys.exit(1)


def config_vars(env_dir: Path) -> dict[str, str]:
    found = {}
    if env_dir.is_dir():
        for path in env_dir.iterdir():
            if path.is_file():
                try:
                    found[path.name] = path.read_text()
                except (OSError, UnicodeDecodeError):
                    continue
    return found


def main() -> None:
    build_dir, _cache_dir, env_dir = (Path(arg) for arg in sys.argv[1:4])
    step("Static site (static.json)")
    try:
        text = (build_dir / "static.json").read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"Can't read static.json: {exc}")
    try:
        config = load(text, config_vars(env_dir))
    except ConfigError as exc:
        fail(f"static.json: {exc}")
    root = build_dir / config.root
    if not root.is_dir():
        fail(
            f'The site\'s root "{config.root}" is not a directory of the app. Commit the '
            "built site, or build it in this push with a buildpack before this one (for "
            'example heroku/nodejs with a "build" script), or set "root" in static.json.'
        )
    if root.resolve() != build_dir.resolve() and build_dir.resolve() not in root.resolve().parents:
        fail(f'The site\'s root "{config.root}" leads outside the app.')
    files = sum(len(names) for _, _, names in os.walk(root))
    print(f"       Serving {config.root} ({files} files)", flush=True)
    if config.routes:
        print(f"       Routes: {', '.join(r.pattern + ' -> ' + r.target for r in config.routes)}")
    target = build_dir / ".heroku" / "static"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(LIB / "serve.py", target / "serve.py")
    shutil.copytree(
        LIB / "static_server",
        target / "static_server",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    compileall.compile_dir(str(target), quiet=1)
    interpreter = os.environ.get("COVE_BUILDPACK_PYTHON") or sys.executable
    if not os.path.isabs(interpreter):
        interpreter = shutil.which(interpreter) or sys.executable
    os.symlink(interpreter, target / "python")
    boot = build_dir / "bin" / "boot"
    boot.parent.mkdir(exist_ok=True)
    if boot.is_symlink() or boot.exists():
        boot.unlink()
    boot.write_text(BOOT)
    boot.chmod(0o755)
    step("Installed Cove's static server to .heroku/static (web: bin/boot)")


if __name__ == "__main__":
    main()
