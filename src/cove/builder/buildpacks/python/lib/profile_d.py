"""Write the .profile.d scripts that set up the Python environment when a dyno starts.

They're sourced by bash with HOME=/app (the app dir) before the process type's command runs.
Config vars are already in the environment then, so `${VAR:-default}` lets them win.
"""

from __future__ import annotations

import os

PYTHON_SH = """\
# Written by Cove's Python buildpack. Sourced at dyno start with HOME set to the app dir.
export PATH="$HOME/.heroku/python/bin:$PATH"
export PYTHONUNBUFFERED=true
export LANG="${LANG:-C.UTF-8}"
export PYTHONPATH="${PYTHONPATH:-$HOME}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# gunicorn: trust the router's X-Forwarded-* headers, and log requests to stdout by default.
export FORWARDED_ALLOW_IPS='*'
export GUNICORN_CMD_ARGS="${GUNICORN_CMD_ARGS:---access-logfile -}"
"""

WEB_CONCURRENCY_SH = r"""# Written by Cove's Python buildpack. Sourced at dyno start:
# exports DYNO_RAM (MB) and, unless it's already set, WEB_CONCURRENCY (the gunicorn/uvicorn
# worker count) for the dyno's memory and CPUs.
_cove_cg="${COVE_CGROUP_ROOT:-/sys/fs/cgroup}"
_cove_limit=""
if [ -r "$_cove_cg/memory/memory.limit_in_bytes" ]; then
  _cove_limit="$(cat "$_cove_cg/memory/memory.limit_in_bytes" 2>/dev/null)"  # cgroup v1
elif [ -r "$_cove_cg/memory.max" ]; then
  _cove_limit="$(cat "$_cove_cg/memory.max" 2>/dev/null)"  # cgroup v2 ("max" = no limit)
fi
case "$_cove_limit" in
  '' | *[!0-9]*) _cove_limit="" ;;
esac
# Limits above 1 TB mean "unlimited": fall back to DYNO_RAM, else 512 MB.
if [ -n "$_cove_limit" ] && [ "${#_cove_limit}" -le 13 ] \
  && [ "$_cove_limit" -le 1099511627776 ]; then
  DYNO_RAM=$((_cove_limit / 1048576))
else
  case "${DYNO_RAM:-}" in
    '' | *[!0-9]*) DYNO_RAM=512 ;;
  esac
fi
export DYNO_RAM
_cove_cores="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
_cove_say() {
  case "${DYNO:-}" in
    web.*) echo "Python buildpack: $*" >&2 ;;
  esac
}
_cove_say "Detected ${DYNO_RAM} MB available memory and ${_cove_cores} CPU cores."
if [ -n "${WEB_CONCURRENCY:-}" ]; then
  _cove_say "Skipping automatic configuration of WEB_CONCURRENCY since it's already set."
else
  _cove_by_mem=$((DYNO_RAM / 256))
  [ "$_cove_by_mem" -lt 1 ] && _cove_by_mem=1
  _cove_by_cpu=$((_cove_cores * 2 + 1))
  if [ "$_cove_by_cpu" -lt "$_cove_by_mem" ]; then
    WEB_CONCURRENCY="$_cove_by_cpu"
  else
    WEB_CONCURRENCY="$_cove_by_mem"
  fi
  export WEB_CONCURRENCY
  export WEB_CONCURRENCY_SET_BY="heroku/python"
  _cove_say "Defaulting WEB_CONCURRENCY to ${WEB_CONCURRENCY} based on memory and CPU cores."
fi
unset -f _cove_say
unset _cove_cg _cove_limit _cove_cores _cove_by_mem _cove_by_cpu
"""

SCRIPTS = {"python.sh": PYTHON_SH, "WEB_CONCURRENCY.sh": WEB_CONCURRENCY_SH}


def write_scripts(build_dir: str) -> None:
    profile_d = os.path.join(build_dir, ".profile.d")
    os.makedirs(profile_d, exist_ok=True)
    for name, text in SCRIPTS.items():
        with open(os.path.join(profile_d, name), "w", encoding="utf-8") as fh:
            fh.write(text)
