"""bin/compile BUILD_DIR CACHE_DIR ENV_DIR: build a Node.js app in place, as Heroku's
Node.js buildpack does.

Steps: checks (package.json, lockfiles), the environment, binaries (Node.js from Cove's
stack, the package manager), cache restore, heroku-prebuild, dependencies, build (or
heroku-postbuild), cache save, devDependencies pruned, heroku-cleanup, .profile.d.
"""

from __future__ import annotations

import os
import sys

import build_env
import install
import package_json
import package_manager
import profile_d
import runtime
import scripts
import tools
from cache import SIGNATURE_FORMAT, Cache
from output import BuildError, detail, error, step, warning

BUILDPACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compile_app(build_dir: str, cache_dir: str, env_dir: str) -> None:
    pkg = package_json.read(build_dir)
    manager = package_manager.determine(build_dir, pkg)
    if "iojs" in pkg.engines:
        raise BuildError("io.js is no longer supported: remove engines.iojs from package.json.")
    config = build_env.read_config_vars(env_dir)
    env = build_env.make(dict(os.environ), config, build_dir)

    step("Creating runtime environment")
    for line in build_env.shown({**build_env.DEFAULTS, **config}):
        detail(line)

    step("Installing binaries")
    requested = pkg.engines.get("node", "").strip()
    detail(f"engines.node (package.json):   {requested or 'unspecified'}")
    detail(
        f"engines.npm (package.json):    {pkg.engines.get('npm') or 'unspecified (use default)'}"
    )
    if manager.name != "npm":
        detail(f"{manager.name} version:            {manager.version or 'default'}")
    if pkg.package_manager:
        detail(f"packageManager (package.json): {pkg.package_manager.split('+')[0]}")
    if manager.lockfile is None:
        warning(
            "No package-lock.json was found: npm resolves the dependencies anew at every build,\n"
            "so builds may differ. Run `npm install` and commit package-lock.json."
        )
    detail("")
    detail(
        f"Resolving node version {requested}..."
        if requested
        else "No Node.js version specified, resolving current LTS version..."
    )
    allow_wide = config.get("NODEJS_ALLOW_WIDE_RANGE", "").lower() == "true"
    version, directory = runtime.request(env, requested, allow_wide)
    runtime.link(build_dir, directory)
    detail(f"Using node {version}")
    if manager.name != "npm" and pkg.engines.get("npm"):
        tools.install(package_manager.Manager("npm", pkg.engines["npm"], None), build_dir, env)
    tools.install(manager, build_dir, env)

    cache = Cache(cache_dir, build_dir, manager)
    caching = env.get("NODE_MODULES_CACHE", "true").lower() != "false"
    signature = SIGNATURE_FORMAT.format(
        stack=env.get("STACK", "unknown"),
        node=version,
        manager=manager.name,
        version=tools.version_of(manager.name, env, build_dir),
    )
    cache.restore(signature, caching, pkg.cache_directories)
    dirs = {name: cache.dir(name) for name in ("npm", "yarn", "pnpm", "xdg")}
    build_env.with_caches(env, dirs, build_dir, manager.berry)

    scripts.run("heroku-prebuild", manager, pkg, env, build_dir)
    step("Installing dependencies")
    install.install(manager, env, build_dir)
    step("Build")
    scripts.build(manager, pkg, env, build_dir)

    cache.save(signature, caching, pkg.cache_directories)
    step("Pruning devDependencies")
    skipped = install.prune_skipped(manager, env)
    if skipped:
        detail(skipped)
    else:
        install.prune(manager, env, build_dir)
    scripts.run("heroku-cleanup", manager, pkg, env, build_dir)

    profile_d.write_scripts(build_dir)
    profile_d.write_export(BUILDPACK_DIR, build_env.tool_path(build_dir), build_dir)
    no_procfile = not os.path.exists(os.path.join(build_dir, "Procfile"))
    no_server = not os.path.exists(os.path.join(build_dir, "server.js"))
    if no_procfile and not pkg.has_script("start") and no_server:
        warning(
            "This app may not specify any way to start a node process: it has no Procfile,\n"
            "no 'start' script in package.json and no server.js, so `npm start` (the default\n"
            "web process) will fail."
        )


def main(argv: list[str]) -> int:
    """Exit status: 0 built, 1 a build error (explained), 2 wrong arguments."""
    if not 2 <= len(argv) <= 3:
        print("usage: bin/compile BUILD_DIR CACHE_DIR [ENV_DIR]", file=sys.stderr)
        return 2
    build_dir, cache_dir, env_dir = (*map(os.path.abspath, argv), "")[:3]
    try:
        compile_app(build_dir, cache_dir, env_dir)
        return 0
    except BuildError as exc:
        error(str(exc))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
