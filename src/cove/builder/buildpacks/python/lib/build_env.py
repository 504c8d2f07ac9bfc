"""Environments for the commands the buildpack runs: package installs, hooks, collectstatic."""

from __future__ import annotations

import os

# Config vars that are never exported into hooks/collectstatic (they'd break the build
# toolchain); same list as Heroku's buildpack stdlib.
EXPORT_BLACKLIST = frozenset(
    {"PATH", "CPATH", "CPPATH", "LD_PRELOAD", "LIBRARY_PATH", "LD_LIBRARY_PATH", "PYTHONHOME"}
)
# Config vars that may influence package installs (private indexes and their credentials).
INSTALL_CONFIG_VARS = ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX_STRATEGY")
INSTALL_CONFIG_PREFIXES = ("UV_INDEX",)


def read_config_vars(env_dir: str) -> dict[str, str]:
    """ENV_DIR holds one file per config var: file name = key, content = value."""
    config: dict[str, str] = {}
    if not env_dir or not os.path.isdir(env_dir):
        return config
    for name in sorted(os.listdir(env_dir)):
        path = os.path.join(env_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                config[name] = fh.read()
    return config


def base_env(venv: str) -> dict[str, str]:
    """The build environment: our process env with the app's virtualenv activated."""
    env = dict(os.environ)
    for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONNOUSERSITE"):
        env.pop(key, None)
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.pathsep.join([os.path.join(venv, "bin"), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("LANG", "C.UTF-8")
    return env


def app_env(venv: str, config: dict[str, str], build_dir: str) -> dict[str, str]:
    """Environment for app code run at build time: build env + exported config vars."""
    env = base_env(venv)
    env.update({k: v for k, v in config.items() if k not in EXPORT_BLACKLIST})
    env.setdefault("PYTHONPATH", build_dir)
    return env


def uv_env(venv: str, cache_dir: str, config: dict[str, str]) -> dict[str, str]:
    """Environment for uv: per-app cache in CACHE_DIR, no interpreter downloads, index mapping."""
    env = base_env(venv)
    env.update(
        {k: v for k, v in config.items() if k in INSTALL_CONFIG_VARS}
        | {k: v for k, v in config.items() if k.startswith(INSTALL_CONFIG_PREFIXES)}
    )
    env["UV_CACHE_DIR"] = os.path.join(cache_dir, "uv")
    env["UV_PYTHON_DOWNLOADS"] = "never"  # only the stack's interpreters may be used
    env["UV_NO_PROGRESS"] = "1"
    env.setdefault("UV_LINK_MODE", "copy")  # cache and app are usually different mounts
    # uv reads SSL_CERT_FILE/SSL_CERT_DIR itself; also trust the system store (proxies with a
    # private CA). UV_SYSTEM_CERTS is the current name of the deprecated UV_NATIVE_TLS.
    if "UV_NATIVE_TLS" not in env:
        env.setdefault("UV_SYSTEM_CERTS", "1")
    # uv doesn't read pip's index variables: translate the ones the builder/app may set.
    if "PIP_INDEX_URL" in env and not (env.get("UV_INDEX_URL") or env.get("UV_DEFAULT_INDEX")):
        env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]
    if "PIP_EXTRA_INDEX_URL" in env and not env.get("UV_EXTRA_INDEX_URL"):
        env["UV_EXTRA_INDEX_URL"] = env["PIP_EXTRA_INDEX_URL"]
    # Keep tools from writing into HOME, which may be the build dir (i.e. the slug).
    env["XDG_CACHE_HOME"] = os.path.join(cache_dir, "xdg-cache")
    env["XDG_DATA_HOME"] = os.path.join(cache_dir, "xdg-data")
    return env
