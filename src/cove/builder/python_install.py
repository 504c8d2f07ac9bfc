"""Installing the Python versions the stack lacks, for builds that ask for them.

`cove server` (trusted) installs, never the build: builds run as the app's user and must
not write the shared stack. uv does the work (``uv python install``: python-build-standalone
archives, checksums checked against uv's list), into ``COVE_HOME/stack/pythons`` — shared
by every app, outside any ``$HOME``, and recorded like every interpreter of the stack. Which
versions are installed and how ``X.Y`` resolves follow Heroku's Python buildpack: supported
major versions only, and the newest patch release the download source has.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Callable
from pathlib import Path

from cove.builder.stack import (
    Interpreter,
    Stack,
    _candidates,
    _probe,
    installed_dirs,
    open_to_others,
)
from cove.builder.streamed import last_error, run_streamed
from cove.settings import Settings

# Heroku's Python buildpack (v351, 2026-08-18): the major versions it installs, and its
# default for apps that ask for none (used here only while the stack has no interpreter).
OLDEST_SUPPORTED = (3, 10)
NEWEST_SUPPORTED = (3, 14)
HEROKU_DEFAULT = "3.14"
# Shows progress in the build output: emit("step", text) for a headline, emit("line",
# text) for what uv says.
Emit = Callable[[str, str], None]
# One ``uv python`` command; downloads of ~30 MB are seconds, a dead mirror is uv's own
# timeouts (UV_HTTP_TIMEOUT) and retries.
COMMAND_TIMEOUT = 600.0


class PythonUnavailable(Exception):
    """The version can't be had: the message says why and how to add it (no traceback)."""


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


class PythonInstaller:
    def __init__(self, settings: Settings, stack: Stack) -> None:
        self.settings = settings
        self.stack = stack
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def root(self) -> Path:
        return self.settings.pythons_dir

    async def provide(self, spec: str, where: str, emit: Emit) -> Interpreter:
        """The stack's interpreter for ``X.Y`` / ``X.Y.Z``, installing it if the stack has
        none; raises PythonUnavailable with what to do. One install per version at a
        time: a second build asking for it waits and then finds it in the stack."""
        major = ".".join(spec.split(".")[:2])
        async with self._locks.setdefault(major, asyncio.Lock()):
            if self.stack.find(spec) is None:
                # The stack is changed on the event loop only (builds read it there).
                for interp in await asyncio.to_thread(self._rescan):
                    self.stack.add(interp)
            found = self.stack.find(spec)
            if found is not None:
                return found
            return await self._install(spec, where, emit)

    def _rescan(self) -> list[Interpreter]:
        """Interpreters an operator installed into the stack's directory since the server
        started (the command the error message gives): no restart needed."""
        known = {i.path for i in self.stack.all()}
        found: list[Interpreter] = []
        dirs = installed_dirs(self.root)
        for exe in _candidates(dirs) if dirs else ():  # (no dirs means the usual places)
            if exe.resolve() in known:
                continue
            interp = _probe(exe)
            if interp is not None and interp.path not in known and open_to_others(interp):
                found.append(interp)
                known.add(interp.path)
        return found

    async def _install(self, spec: str, where: str, emit: Emit) -> Interpreter:
        wanted = _key(spec)[:2]
        if wanted < OLDEST_SUPPORTED:
            raise self._unavailable(
                spec,
                where,
                f"Python {spec} has reached its upstream end of life: like Heroku, Cove only "
                f"installs Python {_span()}.",
            )
        if wanted > NEWEST_SUPPORTED:
            raise self._unavailable(
                spec,
                where,
                f"Python {spec} isn't a version Cove recognises: it installs Python {_span()}.",
            )
        if self.settings.python_downloads == "never":
            raise self._unavailable(spec, where, "Downloads are off (COVE_PYTHON_DOWNLOADS=never).")
        version = await self._newest_download(spec, where)
        emit("step", f"Downloading Python {version} into the stack (once, for every app)")
        code, out = await self._uv_streamed(
            ["python", "install", version, "--install-dir", str(self.root), "--no-bin"], emit
        )
        if code != 0:
            raise self._unavailable(spec, where, f"The download failed: {last_error(out)}")
        interp = await asyncio.to_thread(self._settle, version)
        if interp is not None:
            self.stack.add(interp)
        if interp is None:
            raise self._unavailable(
                spec, where, f"uv installed Python {version}, but it doesn't run."
            )
        # Where the app sees it.
        emit(
            "line",
            f"Python {version} is now part of the stack: {self.stack.in_sandbox(interp.prefix)}",
        )
        return interp

    async def _newest_download(self, spec: str, where: str) -> str:
        """Which release ``spec`` means: the newest the download source lists."""
        code, out, err = await self._uv_output(
            ["python", "list", spec, "--only-downloads", "--output-format", "json"]
        )
        try:
            rows = json.loads(out) if code == 0 else None
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise self._unavailable(
                spec, where, f"The list of downloads couldn't be read: {last_error(err or out)}"
            )
        versions = [
            str(r["version"])
            for r in rows
            if r.get("implementation") == "cpython"
            and r.get("variant", "default") == "default"
            and str(r.get("version", "")).replace(".", "").isdigit()
        ]
        if not versions:
            raise self._unavailable(
                spec, where, f"The download source has no Python {spec} for this machine."
            )
        return max(versions, key=_key)

    def _settle(self, version: str) -> Interpreter | None:
        """Open the new install to app users (they run it; nobody but us writes it) and
        probe it."""
        for path in self.root.iterdir():
            if path.name.startswith(f"cpython-{version}-") and not path.is_symlink():
                _open_tree(path)
        lock = self.root / ".lock"
        if lock.exists():
            lock.chmod(0o600)  # uv leaves it world-writable
        major_minor = ".".join(version.split(".")[:2])
        for bin_dir in installed_dirs(self.root):
            exe = bin_dir / f"python{major_minor}"
            if not bin_dir.parent.name.startswith(f"cpython-{version}-") or not exe.is_file():
                continue
            interp = _probe(exe)
            if interp is not None and interp.version == version and open_to_others(interp):
                return interp
        return None

    def _command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        cmd = [str(self.stack.uv), *args, "--no-config", "--color", "never"]
        # Cove's settings are the only source: no UV_PYTHON_* of the server's shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_PYTHON", "VIRTUAL"))}
        env.update(UV_NO_PROGRESS="1", UV_CACHE_DIR=str(self.root / ".cache"))
        if self.settings.python_install_mirror:
            env["UV_PYTHON_INSTALL_MIRROR"] = self.settings.python_install_mirror
        if self.settings.python_downloads_json_url:
            env["UV_PYTHON_DOWNLOADS_JSON_URL"] = self.settings.python_downloads_json_url
        return cmd, env

    async def _uv_output(self, args: list[str]) -> tuple[int, str, str]:
        cmd, env = self._command(args)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=DEVNULL, stdout=PIPE, stderr=PIPE, env=env
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 1, "", f"error: uv took longer than {COMMAND_TIMEOUT:.0f} seconds"
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    async def _uv_streamed(self, args: list[str], emit: Emit) -> tuple[int, str]:
        """Run uv, showing its lines as they come; returns (exit status, all of them)."""
        cmd, env = self._command(args)
        return await run_streamed(cmd, env, lambda line: emit("line", line), COMMAND_TIMEOUT)

    def _unavailable(self, spec: str, where: str, reason: str) -> PythonUnavailable:
        have = ", ".join(i.version for i in self.stack.interpreters)
        has = f"this Cove stack only has: {have}" if have else "this Cove stack has none yet"
        install = shlex.join(
            ["uv", "python", "install", spec, "--install-dir", str(self.root), "--no-bin"]
        )
        majors = [".".join(i.version.split(".")[:2]) for i in self.stack.interpreters]
        instead = (
            f"Otherwise use a version the stack has, preferably a major version such as "
            f"{majors[-1]}."
            if majors
            else ""
        )
        return PythonUnavailable(
            f"Python {spec} was requested {where}, but {has}\n"
            f"{reason}\n"
            "\n"
            "To add it, the operator of this Cove server can:\n"
            f"  * install it where Cove finds it (no restart needed):\n"
            f"      {install}\n"
            f"  * or let Cove download it: COVE_PYTHON_DOWNLOADS=automatic, with\n"
            "    COVE_PYTHON_INSTALL_MIRROR set to a mirror of python-build-standalone releases\n"
            "    where GitHub can't be reached (then restart cove server)\n"
            f"  * or list a directory holding python{'.'.join(spec.split('.')[:2])} in "
            "COVE_PYTHON_DIRS (then restart cove server)\n"
            f"{instead}".rstrip()
        )


def _span() -> str:
    return "{}.{} to {}.{}".format(*OLDEST_SUPPORTED, *NEWEST_SUPPORTED)


def _open_tree(root: Path) -> None:
    """Readable (and directories and executables runnable) by every user, written by none
    but the owner: 0755 / 0644."""
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(0o755 if path.is_dir() or mode & 0o100 else 0o644)
