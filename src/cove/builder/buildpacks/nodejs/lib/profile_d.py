"""The .profile.d scripts that dynos source at start (HOME is the app), and the ``export``
file later buildpacks of a multi-buildpack build source."""

from __future__ import annotations

import os

NODEJS_SH = """\
# Written by Cove's Node.js buildpack. Sourced at dyno start with HOME set to the app dir.
export PATH="$HOME/.heroku/npm/bin:$HOME/.heroku/node/bin:$HOME/.heroku/yarn/bin:\\
$HOME/.heroku/pnpm/bin:$PATH:$HOME/bin:$HOME/node_modules/.bin"
export NODE_HOME="$HOME/.heroku/node"
export NODE_ENV="${NODE_ENV:-production}"
"""

# Heroku's rule: one process per WEB_MEMORY MB (512, or 2048 on dynos over 16 GB) of the
# dyno's memory (DYNO_RAM, which Cove sets from the dyno size), at least 1.
WEB_CONCURRENCY_SH = """\
# Written by Cove's Node.js buildpack: WEB_CONCURRENCY for the dyno's memory, unless set.
case "${DYNO_RAM:-}" in
  '' | *[!0-9]*) _cove_ram=512 ;;
  *) _cove_ram="$DYNO_RAM" ;;
esac
export MEMORY_AVAILABLE="${MEMORY_AVAILABLE:-$_cove_ram}"
if [ "$MEMORY_AVAILABLE" -gt 16384 ] 2>/dev/null; then
  export WEB_MEMORY="${WEB_MEMORY:-2048}"
else
  export WEB_MEMORY="${WEB_MEMORY:-512}"
fi
if [ -z "${WEB_CONCURRENCY:-}" ]; then
  WEB_CONCURRENCY=$((MEMORY_AVAILABLE / WEB_MEMORY)) 2>/dev/null || WEB_CONCURRENCY=1
  if [ "$WEB_CONCURRENCY" -lt 1 ] || [ "$WEB_CONCURRENCY" -gt 200 ]; then
    WEB_CONCURRENCY=1
  fi
  export WEB_CONCURRENCY
fi
unset _cove_ram
"""


def write_scripts(build_dir: str) -> None:
    directory = os.path.join(build_dir, ".profile.d")
    os.makedirs(directory, exist_ok=True)
    for name, text in (("nodejs.sh", NODEJS_SH), ("WEB_CONCURRENCY.sh", WEB_CONCURRENCY_SH)):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as fh:
            fh.write(text)


def write_export(buildpack_dir: str, path: str, build_dir: str) -> None:
    """For the buildpacks after this one: Node.js and the app's tools on PATH. Skipped when
    the buildpack's directory is read-only (a build without multi-buildpack support)."""
    if not os.access(buildpack_dir, os.W_OK):
        return
    with open(os.path.join(buildpack_dir, "export"), "w", encoding="utf-8") as fh:
        fh.write(f'export PATH="{path}:$PATH"\n')
        fh.write(f'export NODE_HOME="{os.path.join(build_dir, ".heroku", "node")}"\n')
        fh.write('export NODE_OPTIONS="${NODE_OPTIONS:---max_old_space_size=2560}"\n')
