"""Classic buildpacks (``bin/detect``, ``bin/compile``, ``bin/release``): resolving them and
running them in the build sandbox."""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from cove import sandbox
from cove.builder import sandboxed
from cove.domain.errors import InvalidParams
from cove.sandbox import users
from cove.sandbox.cgroups import Cgroup

BUILTIN_DIR = Path(__file__).parent / "buildpacks"
BUILTIN = {
    "heroku/python": BUILTIN_DIR / "python",
    "cove/python": BUILTIN_DIR / "python",
    "heroku/nodejs": BUILTIN_DIR / "nodejs",
    "cove/nodejs": BUILTIN_DIR / "nodejs",
    # A built single-page app or static site, as heroku-buildpack-static's static.json says.
    "heroku-community/static": BUILTIN_DIR / "static",
    "cove/static": BUILTIN_DIR / "static",
}
# Detected in this order when an app sets none; the first that detects builds it (a Python
# app with a package.json for its assets is a Python app, as on Heroku; a package.json app
# is built by Node.js before any static site in it is considered).
DEFAULT_BUILDPACKS = ("heroku/python", "heroku/nodejs", "heroku-community/static")


# Where Heroku's own tools point for its buildpacks: the registry's blob (what the heroku
# CLI's buildpacks:add heroku/x sends), the older codon one and the GitHub repository.
_HEROKU_URL = re.compile(
    r"https://(?:buildpack-registry|codon-buildpacks)\.s3\.amazonaws\.com/buildpacks/"
    r"(heroku(?:-community)?/[a-z0-9-]+)\.tgz"
    r"|https://github\.com/heroku/heroku-buildpack-([a-z0-9-]+?)(?:\.git)?/?(?:#.*)?"
)
# The classic buildpack API's hand-over between buildpacks: what a buildpack writes to
# ``<its directory>/export`` (shell) is sourced before every later buildpack's compile.
EXPORT_FILE = "export"
# Runs a compile after sourcing the earlier buildpacks' export files, in order, in the
# build sandbox as the app's user (never in the server). Arguments: the export files up to
# a ``--``, then the command ($0, also ``--``, is unused).
_SOURCE_EXPORTS = (
    'here=$PWD; while [ "$1" != -- ]; do if [ -f "$1" ]; then . "$1"; fi; shift; done; '
    'shift; cd "$here" && exec "$@"'
)


def builtin_name(url: str) -> str:
    """``heroku/python`` for any of Heroku's URLs of a buildpack Cove has built in (so the
    heroku CLI's ``buildpacks:add heroku/python`` works); other URLs are left as given."""
    match = _HEROKU_URL.fullmatch(url)
    if match is not None:
        name = match.group(1) or f"heroku/{match.group(2)}"
        if name == "heroku/static":  # heroku-buildpack-static's repository
            name = "heroku-community/static"
        if name in BUILTIN:
            return name
    return url


class BuildFailed(Exception):
    """A build error the user can act on; its message is shown in the push output."""


@dataclass(frozen=True)
class Buildpack:
    url: str  # what the user gave: "heroku/python" or a local path
    path: Path  # where it is on the host
    index: int  # position in the app's buildpack list

    @property
    def mount_point(self) -> str:
        return f"/buildpacks/{self.index}"


def validate_url(url: str) -> str:
    """A buildpack is a built-in name or a local directory with ``bin/detect``."""
    url = builtin_name(url.strip())
    if url in BUILTIN:
        return url
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        raise InvalidParams(
            f"Buildpack {url!r} is not supported: use heroku/python, heroku/nodejs or an "
            "absolute path to a "
            "buildpack directory on the Cove server."
        )
    if not (path / "bin" / "compile").is_file() or not (path / "bin" / "detect").is_file():
        raise InvalidParams(f"Buildpack {url!r} has no bin/detect and bin/compile.")
    return url


def validate_urls(urls: Sequence[str]) -> list[str]:
    """An app's buildpack list: each one valid, none twice (``heroku/python`` and Heroku's
    URL of it are the same buildpack)."""
    valid = [validate_url(url) for url in urls]
    for index, url in enumerate(valid):
        if url in valid[:index]:
            raise InvalidParams(f"The buildpack {url} is already set on this app.")
    return valid


def resolve(urls: Sequence[str]) -> list[Buildpack]:
    packs = []
    for index, url in enumerate(urls or DEFAULT_BUILDPACKS):
        path = BUILTIN.get(builtin_name(url)) or Path(url.removeprefix("file://"))
        if not (path / "bin" / "compile").is_file():
            raise BuildFailed(f"Buildpack {url} is not available on this server.")
        packs.append(Buildpack(url, path, index))
    return packs


def closed_to_others(pack: Buildpack) -> Path | None:
    """The first of the buildpack's entry points that a user other than its owner can't
    reach (builds run as the app's own user), or None."""
    bin_dir = pack.path / "bin"
    return users.closed_to_others((pack.path, bin_dir, *sorted(bin_dir.iterdir())))


def stage(packs: Sequence[Buildpack], root: Path) -> sandbox.Mount:
    """A private copy of each buildpack for one build, mounted writable at /buildpacks:
    classic buildpacks write their ``export`` file into their own directory, and the
    originals (built-ins, an operator's directories) stay read-only to every build."""
    root.mkdir(parents=True, exist_ok=True)
    for pack in packs:

        def ignore(directory: str, names: list[str], top: str = str(pack.path)) -> set[str]:
            # A stale export left in the original (a buildpack tried out by hand) would
            # otherwise reach the next buildpack as if this build had written it; a FIFO or
            # device would block or flood the copy (only files, dirs and links are copied).
            skipped = {".git"} | ({EXPORT_FILE} if directory == top else set())
            return skipped | {name for name in names if not _copyable(Path(directory, name))}

        shutil.copytree(pack.path, root / str(pack.index), symlinks=True, ignore=ignore)
    return sandbox.Mount(root, "/buildpacks", writable=True)


def _copyable(path: Path) -> bool:
    mode = path.lstat().st_mode
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def compile_argv(pack: Buildpack, earlier: Sequence[Buildpack]) -> list[str]:
    """``bin/compile BUILD_DIR CACHE_DIR ENV_DIR``, run by a shell that first sources the
    ``export`` files of the buildpacks that compiled before it."""
    exports = [f"{p.mount_point}/{EXPORT_FILE}" for p in earlier]
    command = [f"{pack.mount_point}/bin/compile", "/app", "/cache", "/env"]
    return ["/bin/bash", "-c", _SOURCE_EXPORTS, "--", *exports, "--", *command]


@dataclass
class BuildSandbox:
    """What every step of one build shares: mounts (app, cache, env dir, stack) and env."""

    mounts: list[sandbox.Mount]
    env: dict[str, str]
    timeout: float
    user: sandbox.SandboxUser | None = None
    cgroup: Cgroup | None = None
    memory_mb: int = 0  # the cgroup's memory limit, for the out-of-memory message

    async def run(
        self,
        argv: Sequence[str],
        mounts: Sequence[sandbox.Mount],
        on_line: Callable[[str], None] | None,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        """One step of the build, as the app's user, in the build's cgroup."""
        return await sandboxed.run(
            argv,
            mounts=mounts,
            env=self.env if env is None else env,
            on_line=on_line,
            timeout=timeout,
            user=self.user,
            cgroup=self.cgroup,
        )

    def out_of_memory(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

    async def detect(self, pack: Buildpack) -> str | None:
        if pack.path == BUILTIN["heroku/python"]:
            # Cove's own Python buildpack looks only at names in the app's root: the server
            # answers without a sandbox (one fewer process start per deploy), unless a name
            # is a symlink, which only the app's user may follow.
            app = next((m.source for m in self.mounts if m.target == "/app"), None)
            decided = None if app is None else _python_detect().decided_without_links(str(app))
            if decided is not None:
                return "Python" if decided else None
        status, out = await self.run(
            [f"{pack.mount_point}/bin/detect", "/app"],
            self.mounts,
            on_line=None,
            timeout=min(self.timeout, 60),
        )
        if status != 0:
            return None
        return out.strip().splitlines()[0] if out.strip() else pack.url

    async def compile(
        self,
        pack: Buildpack,
        on_line: Callable[[str], None],
        earlier: Sequence[Buildpack] = (),
    ) -> None:
        """``pack``'s compile, in the environment the ``earlier`` buildpacks exported."""
        try:
            status, _ = await self.run(
                compile_argv(pack, earlier),
                self.mounts,
                on_line=on_line,
                timeout=self.timeout,
            )
        except sandboxed.CommandTimeout as exc:
            raise BuildFailed(f"The build {exc}.") from None
        if status != 0 and self.out_of_memory():
            raise BuildFailed(
                f"The build ran out of memory (the limit is {self.memory_mb} MB, "
                "COVE_BUILD_MEMORY_MB)."
            )
        if status != 0:
            raise BuildFailed(f"bin/compile of {pack.url} failed (exit status {status}).")

    async def release(self, pack: Buildpack) -> dict[str, str]:
        release = Path(pack.path, "bin", "release")
        if not release.is_file() or pack.path == BUILTIN["heroku/python"]:
            # Cove's own Python buildpack declares no default process types (the Procfile
            # decides, as on Heroku), and Cove reads nothing else from bin/release.
            return {}
        status, out = await self.run(
            [f"{pack.mount_point}/bin/release", "/app"],
            self.mounts,
            on_line=None,
            timeout=min(self.timeout, 60),
        )
        if status != 0:
            raise BuildFailed(f"bin/release of {pack.url} failed (exit status {status}).")
        return default_process_types(out)


@functools.cache
def _python_detect() -> ModuleType:
    """The Python buildpack's own bin/detect logic (stdlib-only), loaded into the server."""
    path = BUILTIN["heroku/python"] / "lib" / "detect.py"
    spec = importlib.util.spec_from_file_location("cove_python_buildpack_detect", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_process_types(release_yaml: str) -> dict[str, str]:
    try:
        data: Any = yaml.safe_load(release_yaml) or {}
    except yaml.YAMLError as exc:
        raise BuildFailed(f"bin/release printed invalid YAML: {exc}") from None
    types = data.get("default_process_types") if isinstance(data, Mapping) else None
    if not isinstance(types, Mapping):
        return {}
    return {str(k): str(v) for k, v in types.items()}
