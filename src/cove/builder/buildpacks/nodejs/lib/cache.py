"""What builds keep between them, under ``CACHE_DIR/node``: the package manager's own cache
(npm's, Yarn's, pnpm's store) lives there while the build runs, and ``node_modules`` (or
package.json's ``cacheDirectories``) is copied back and forth. A change of stack, Node.js
or package manager starts from empty, as on Heroku."""

from __future__ import annotations

import os
import shutil
import subprocess

from output import detail, step, warning
from package_manager import Manager

SIGNATURE_FORMAT = "v1; {stack}; node {node}; {manager} {version}"


class Cache:
    def __init__(self, cache_dir: str, build_dir: str, manager: Manager) -> None:
        self.root = os.path.join(cache_dir, "node")
        self.build_dir = build_dir
        self.manager = manager

    def dir(self, name: str) -> str:
        """The package manager cache ``name``, kept between builds."""
        path = os.path.join(self.root, "cache", name)
        os.makedirs(path, exist_ok=True)
        return path

    def copied_dirs(self, custom: tuple[str, ...]) -> list[str]:
        """App directories copied to and from the cache: cacheDirectories, else
        node_modules where the install keeps it (npm ci and pnpm rebuild it anyway)."""
        if custom:
            return [d.strip("/") for d in custom if d.strip("/") and ".." not in d.split("/")]
        if self.manager.berry:
            return [".yarn/cache"]  # Yarn 2+'s cache is in the app (see build_env)
        keeps = self.manager.name == "yarn"
        return ["node_modules"] if keeps or not self.manager.frozen else []

    def status(self, signature: str, enabled: bool) -> str:
        if not enabled:
            return "disabled"
        try:
            with open(os.path.join(self.root, "signature"), encoding="utf-8") as fh:
                old = fh.read().strip()
        except OSError:
            return "not-found"
        return "valid" if old == signature else "new-signature"

    def restore(self, signature: str, enabled: bool, custom: tuple[str, ...]) -> None:
        status = self.status(signature, enabled)
        if status == "not-found":
            self.clear()
            return
        step("Restoring cache")
        if status == "disabled":
            detail("Caching has been disabled because NODE_MODULES_CACHE=false")
            self.clear()
            return
        if status == "new-signature":
            detail("Cached directories were not restored due to a change in version of node,")
            detail(f"{self.manager.name} or the stack; module installation may take longer.")
            self.clear()
            return
        cache_name = {"npm": "npm", "yarn": "yarn", "pnpm": "pnpm"}[self.manager.name]
        if os.listdir(self.dir(cache_name)):
            detail(f"- {cache_name} cache")
        for name in self.copied_dirs(custom):
            source = os.path.join(self.root, "dirs", name)
            target = os.path.join(self.build_dir, name)
            if os.path.lexists(target):
                detail(f"- {name} (exists - skipping)")
            elif os.path.isdir(source):
                _copy(source, target)
                detail(f"- {name}")
            else:
                detail(f"- {name} (not cached - skipping)")

    def save(self, signature: str, enabled: bool, custom: tuple[str, ...]) -> None:
        shutil.rmtree(os.path.join(self.root, "dirs"), ignore_errors=True)
        if not enabled:
            return
        step("Caching build")
        for name in self.copied_dirs(custom):
            source = os.path.join(self.build_dir, name)
            if os.path.isdir(source) and not os.path.islink(source):
                try:
                    _copy(source, os.path.join(self.root, "dirs", name))
                except OSError as exc:
                    warning(f"Couldn't cache {name} ({exc}); the next build installs it again.")
                    continue
                detail(f"- {name}")
        detail(f"- {self.manager.name} cache")
        with open(os.path.join(self.root, "signature"), "w", encoding="utf-8") as fh:
            fh.write(signature + "\n")

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(os.path.join(self.root, "cache"), exist_ok=True)


def _copy(source: str, target: str) -> None:
    """Copy a tree, links as links (node_modules/.bin), in one ``cp -a``."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    done = subprocess.run(["cp", "-a", source, target], capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"cp exited with status {done.returncode}")
