"""Classic buildpacks (``bin/detect``, ``bin/compile``, ``bin/release``): resolving them and
running them in the build sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cove import sandbox
from cove.builder import sandboxed
from cove.domain.errors import InvalidParams
from cove.sandbox import users
from cove.sandbox.cgroups import Cgroup

BUILTIN_DIR = Path(__file__).parent / "buildpacks"
BUILTIN = {"heroku/python": BUILTIN_DIR / "python", "cove/python": BUILTIN_DIR / "python"}
DEFAULT_BUILDPACKS = ("heroku/python",)


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
    url = url.strip()
    if url in BUILTIN:
        return url
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        raise InvalidParams(
            f"Buildpack {url!r} is not supported: use heroku/python or an absolute path to a "
            "buildpack directory on the Cove server."
        )
    if not (path / "bin" / "compile").is_file() or not (path / "bin" / "detect").is_file():
        raise InvalidParams(f"Buildpack {url!r} has no bin/detect and bin/compile.")
    return url


def resolve(urls: Sequence[str]) -> list[Buildpack]:
    packs = []
    for index, url in enumerate(urls or DEFAULT_BUILDPACKS):
        path = BUILTIN.get(url) or Path(url.removeprefix("file://"))
        if not (path / "bin" / "compile").is_file():
            raise BuildFailed(f"Buildpack {url} is not available on this server.")
        packs.append(Buildpack(url, path, index))
    return packs


def closed_to_others(pack: Buildpack) -> Path | None:
    """The first of the buildpack's entry points that a user other than its owner can't
    reach (builds run as the app's own user), or None."""
    bin_dir = pack.path / "bin"
    return users.closed_to_others((pack.path, bin_dir, *sorted(bin_dir.iterdir())))


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

    def with_buildpack(self, pack: Buildpack) -> list[sandbox.Mount]:
        return [*self.mounts, sandbox.Mount(pack.path, pack.mount_point)]

    async def detect(self, pack: Buildpack) -> str | None:
        status, out = await self.run(
            [f"{pack.mount_point}/bin/detect", "/app"],
            self.with_buildpack(pack),
            on_line=None,
            timeout=min(self.timeout, 60),
        )
        if status != 0:
            return None
        return out.strip().splitlines()[0] if out.strip() else pack.url

    async def compile(self, pack: Buildpack, on_line: Callable[[str], None]) -> None:
        try:
            status, _ = await self.run(
                [f"{pack.mount_point}/bin/compile", "/app", "/cache", "/env"],
                self.with_buildpack(pack),
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
        if not release.is_file():
            return {}
        status, out = await self.run(
            [f"{pack.mount_point}/bin/release", "/app"],
            self.with_buildpack(pack),
            on_line=None,
            timeout=min(self.timeout, 60),
        )
        if status != 0:
            raise BuildFailed(f"bin/release of {pack.url} failed (exit status {status}).")
        return default_process_types(out)


def default_process_types(release_yaml: str) -> dict[str, str]:
    try:
        data: Any = yaml.safe_load(release_yaml) or {}
    except yaml.YAMLError as exc:
        raise BuildFailed(f"bin/release printed invalid YAML: {exc}") from None
    types = data.get("default_process_types") if isinstance(data, Mapping) else None
    if not isinstance(types, Mapping):
        return {}
    return {str(k): str(v) for k, v in types.items()}
