"""The package manager's own binary: npm comes with Node.js; Yarn and pnpm (and another
npm, for engines.npm) are installed from the npm registry into ``.heroku/<name>``, which
is part of the slug, so ``yarn start`` works in dynos too."""

from __future__ import annotations

import os
import shutil

from output import BuildError, detail, quiet
from package_manager import Manager

PACKAGES = {"npm": "npm", "pnpm": "pnpm", "yarn": "yarn", "yarn-berry": "@yarnpkg/cli-dist"}


def install(manager: Manager, build_dir: str, env: dict[str, str]) -> None:
    """Make ``manager`` (and engines.npm's npm) the one on PATH (see build_env.path)."""
    if manager.name == "yarn" and manager.yarn_path:
        _vendored_yarn(build_dir, manager.yarn_path)
        detail(f"Using the Yarn release in the repository: {manager.yarn_path}")
        return
    if manager.name == "npm" and not manager.version:
        detail(f"Using npm {version_of('npm', env, build_dir)} (bundled with Node.js)")
        return
    package = PACKAGES["yarn-berry" if manager.berry else manager.name]
    spec = manager.version or "latest"
    prefix = os.path.join(build_dir, ".heroku", manager.name)
    shutil.rmtree(prefix, ignore_errors=True)
    detail(f"Installing {manager.name} {spec}...")
    code, out = quiet(
        [
            "npm",
            "install",
            "--global",
            "--prefix",
            prefix,
            "--no-audit",
            "--no-fund",
            f"{package}@{spec}",
        ],
        env,
        build_dir,
    )
    if code != 0:
        raise BuildError(
            f"Couldn't install {manager.name} {spec} from the npm registry:\n"
            + "\n".join(out.strip().splitlines()[-8:])
            + f"\nCheck the version of {manager.name} that package.json asks for."
        )
    detail(f"{manager.name} {version_of(manager.name, env, build_dir)} installed")


def version_of(name: str, env: dict[str, str], cwd: str) -> str:
    code, out = quiet([name, "--version"], env, cwd)
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else "(unknown)"


def _vendored_yarn(build_dir: str, yarn_path: str) -> None:
    """A ``yarn`` that runs the repository's release (what .yarnrc.yml's yarnPath means)."""
    bin_dir = os.path.join(build_dir, ".heroku", "yarn", "bin")
    os.makedirs(bin_dir, exist_ok=True)
    launcher = os.path.join(bin_dir, "yarn")
    target = os.path.join(build_dir, yarn_path)
    with open(launcher, "w", encoding="utf-8") as fh:
        fh.write(f'#!/bin/sh\nexec node "{target}" "$@"\n')
    os.chmod(launcher, 0o755)
