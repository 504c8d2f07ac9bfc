"""bin/compile BUILD_DIR CACHE_DIR ENV_DIR: build a Python app in place.

Steps: source checks, pre_compile hook, package manager, Python version, cache restore or
venv creation + dependency install + cache save, collectstatic, .profile.d, post_compile hook.
"""

from __future__ import annotations

import os
import sys

import build_env
import cache
import collectstatic
import hooks
import package_manager
import profile_d
import python_version
from install import Installer, create_venv, find_uv, packaging_tools, tool_version
from output import BuildError, detail, error, step, warning


def compile_app(build_dir: str, cache_dir: str, env_dir: str) -> None:
    environ = dict(os.environ)
    os.makedirs(cache_dir, exist_ok=True)
    config = build_env.read_config_vars(env_dir)
    venv = os.path.join(build_dir, ".heroku", "python")

    # Cove may mount the cached venv at the venv's own path (a read-only layer under an
    # overlay), so restoring it costs nothing; the buildpack then never copies it.
    mounted = os.environ.get("COVE_CACHED_VENV") == venv
    package_manager.check_app_source(build_dir, mounted)
    hook_env = build_env.app_env(venv, config, build_dir)
    hook_env.update(BUILD_DIR=build_dir, CACHE_DIR=cache_dir, ENV_DIR=env_dir)
    hooks.run_hook("pre_compile", build_dir, hook_env)

    manager = package_manager.determine(build_dir)
    pythons = python_version.available_pythons(environ)
    old_meta = cache.load_metadata(cache_dir)
    last_version = str(old_meta.get("python_version") or "") if old_meta else None
    requested = python_version.requested_version(build_dir, manager, environ, pythons, last_version)
    step(requested.message())
    selected = python_version.choose(requested, pythons, environ)

    uv = find_uv(environ)
    tools = packaging_tools(manager, selected.version)
    new_meta = cache.metadata(
        stack=environ.get("STACK", "unknown"),
        python_version=selected.version,
        interpreter=selected.interpreter,
        package_manager=manager,
        tool_version=tool_version(manager, uv, tools),
        deps_hash=cache.dependency_hash(build_dir, manager),
    )
    restored = False
    if old_meta is not None:
        reason = cache.discard_reason(old_meta, new_meta, cache_dir, venv if mounted else None)
        if reason:
            step("Discarding cache since:")
            detail(f"- {reason}")
            cache.clear(cache_dir)
        else:
            step("Restoring cache")
            try:
                if not mounted:
                    cache.restore(cache_dir, venv)
                restored = True
            except OSError as exc:
                warning(f"Couldn't restore the cache ({exc}); installing from scratch.")
                cache.clear(cache_dir)
    if mounted and not restored:
        cache.empty(venv)  # a layer this build won't use: start from an empty venv

    uv_env = build_env.uv_env(venv, cache_dir, config)
    installer = Installer(build_dir, cache_dir, uv, selected.interpreter, venv, uv_env)
    if restored:
        step(f"Using cached install of Python {selected.version}")
        installer.refresh(manager, manager == "pip" and cache.has_local_requirements(build_dir))
    else:
        step(f"Installing Python {selected.version}")
        create_venv(uv, selected.interpreter, venv, uv_env, tools)
        installer.install(manager)
        step("Saving cache")
        try:
            if os.environ.get("COVE_VENV_LAYERS") == "1" and not mounted:
                cache.hand_over(cache_dir, new_meta)  # Cove keeps this venv itself
            else:
                cache.save(cache_dir, venv, new_meta)
        except OSError as exc:
            warning(f"Couldn't save the cache ({exc}); the next build will start from scratch.")
            cache.clear(cache_dir)

    app_env = build_env.app_env(venv, config, build_dir)
    collectstatic.collectstatic(build_dir, venv, app_env, config)
    profile_d.write_scripts(build_dir)
    hooks.run_hook("post_compile", build_dir, hook_env)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: bin/compile BUILD_DIR CACHE_DIR [ENV_DIR]", file=sys.stderr)
        return 2
    build_dir, cache_dir = (os.path.abspath(p) for p in argv[:2])
    env_dir = os.path.abspath(argv[2]) if len(argv) == 3 else ""
    try:
        compile_app(build_dir, cache_dir, env_dir)
    except BuildError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
