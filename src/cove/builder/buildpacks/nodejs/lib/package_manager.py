"""Which package manager builds the app, and which version of it, as Heroku decides:
the lockfile, the ``packageManager`` field (corepack's ``name@version``), ``engines``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from output import BuildError
from package_json import PackageJson

LOCKFILES = {
    "package-lock.json": "npm",
    "npm-shrinkwrap.json": "npm",
    "yarn.lock": "yarn",
    "pnpm-lock.yaml": "pnpm",
}
INSTALL_HINT = {
    "npm": "npm install",
    "yarn": "yarn install",
    "pnpm": "pnpm install",
}
_PACKAGE_MANAGER = re.compile(r"^(npm|yarn|pnpm)@([0-9A-Za-z.+\-]+)$")
# Yarn 1 when the app names none (Heroku's default for yarn.lock files of that format).
YARN_CLASSIC_DEFAULT = "1.22.x"


@dataclass(frozen=True)
class Manager:
    name: str  # npm, yarn or pnpm
    version: str  # exact (packageManager), a range (engines.<name>), or "" for the default
    lockfile: str | None
    berry: bool = False  # Yarn 2 or later
    yarn_path: str = ""  # .yarnrc.yml's yarnPath: a vendored Yarn release to run

    @property
    def frozen(self) -> bool:
        return self.lockfile is not None


def parse_package_manager(field: str) -> tuple[str, str]:
    """``"pnpm@9.1.0+sha512.abc"`` -> ``("pnpm", "9.1.0")``; raises BuildError."""
    m = _PACKAGE_MANAGER.match(field.split("+", 1)[0])
    if not m or not re.match(r"^\d+\.\d+\.\d+", m[2]):
        raise BuildError(
            f'The "packageManager" field of package.json is {field!r}: it must name npm, yarn '
            'or pnpm and an exact version, like "pnpm@9.12.0".'
        )
    return m[1], m[2]


def _lockfiles(build_dir: str) -> list[str]:
    return [name for name in LOCKFILES if os.path.isfile(os.path.join(build_dir, name))]


def _yarnrc_yarn_path(build_dir: str) -> str:
    try:
        with open(os.path.join(build_dir, ".yarnrc.yml"), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^yarnPath:\s*(.+?)\s*$", line)
                if m:
                    return m[1].strip("'\"")
    except OSError:
        pass
    return ""


def _is_berry_lockfile(build_dir: str) -> bool:
    try:
        with open(os.path.join(build_dir, "yarn.lock"), encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return "__metadata:" in head


def determine(build_dir: str, pkg: PackageJson) -> Manager:
    """The package manager; raises BuildError for conflicting or missing lockfiles."""
    locks = _lockfiles(build_dir)
    by_lock = sorted({LOCKFILES[name] for name in locks})
    if len(by_lock) > 1:
        raise BuildError(
            "Multiple lockfiles were found: " + ", ".join(locks) + ".\n"
            "They belong to different package managers, so the build can't tell which one to "
            "use. Delete the ones of the package managers you don't use, commit and push again."
        )
    declared = parse_package_manager(pkg.package_manager) if pkg.package_manager else None
    name = declared[0] if declared else (by_lock[0] if by_lock else "npm")
    lockfile = next((lock for lock in locks if LOCKFILES[lock] == name), None)
    if by_lock and by_lock[0] != name:
        raise BuildError(
            f'package.json says "packageManager": "{pkg.package_manager}", but the lockfile is '
            f"{locks[0]}, which is {by_lock[0]}'s.\n"
            f"Either run `{INSTALL_HINT[name]}` to make a {name} lockfile (and delete "
            f'{locks[0]}), or change "packageManager" to {by_lock[0]}.'
        )
    if lockfile is None and name != "npm":
        wanted = "yarn.lock" if name == "yarn" else "pnpm-lock.yaml"
        raise BuildError(
            f'package.json says "packageManager": "{pkg.package_manager}", but there is no '
            f"{wanted}.\nRun `{INSTALL_HINT[name]}` and commit {wanted}: builds install exactly "
            "what the lockfile says."
        )
    version = declared[1] if declared else pkg.engines.get(name, "").strip()
    if name != "yarn":
        return Manager(name, version, lockfile)
    yarn_path = _yarnrc_yarn_path(build_dir)
    berry = (
        _is_berry_lockfile(build_dir)
        or bool(version and re.match(r"^[\^~>=v ]*[2-9]", version))
        or bool(yarn_path)
    )
    if yarn_path and not os.path.isfile(os.path.join(build_dir, yarn_path)):
        raise BuildError(
            f".yarnrc.yml sets yarnPath to {yarn_path}, which isn't in the repository.\n"
            f"Commit {yarn_path} (`yarn set version` writes it), or remove yarnPath."
        )
    if berry and not version and not yarn_path:
        raise BuildError(
            "yarn.lock was written by Yarn 2 or later, but package.json doesn't say which "
            'Yarn to use.\nSet "packageManager", e.g. `yarn set version stable` writes '
            '"packageManager": "yarn@4.5.0" to package.json, then commit and push again.'
        )
    return Manager(
        "yarn", version or ("" if berry else YARN_CLASSIC_DEFAULT), lockfile, berry, yarn_path
    )
