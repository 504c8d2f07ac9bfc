"""The stack: what the host provides to builds and dynos.

A slug holds the app and its virtualenv; the interpreter the venv points at is provided by
the stack, at the same absolute path on every host of the stack (interpreters are bound
into sandboxes at their own path, because builds such as pyenv's hard-code it).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import uv

from cove.sandbox import Mount
from cove.sandbox.users import closed_to_others

_VERSION_DIR = re.compile(r"^python3\.(\d+)$")
_PROBE = "import json,sys;print(json.dumps([sys.version.split()[0], sys.prefix]))"


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.12.1"
    path: Path  # the python3.X executable
    prefix: Path  # sys.prefix, bound into sandboxes


@dataclass(frozen=True)
class Stack:
    name: str
    interpreters: tuple[Interpreter, ...]
    uv: Path
    buildpack_python: Interpreter
    # Why interpreters were left out (one sentence each), said at `cove server` start.
    skipped: tuple[str, ...] = ()

    def mounts(self) -> list[Mount]:
        seen: set[Path] = set()
        mounts = []
        for interp in self.interpreters:
            if interp.prefix in seen or interp.prefix == Path("/usr"):
                continue
            seen.add(interp.prefix)
            mounts.append(Mount(interp.prefix, str(interp.prefix)))
        mounts.append(Mount(self.uv, "/cove/bin/uv"))
        return mounts

    def versions_json(self) -> str:
        return json.dumps({i.version: str(i.path) for i in self.interpreters})

    def default_version(self, configured: str) -> str:
        if configured:
            return configured
        newest = max(self.interpreters, key=lambda i: tuple(int(p) for p in i.version.split(".")))
        return ".".join(newest.version.split(".")[:2])


def _candidates(dirs: tuple[Path, ...]) -> list[Path]:
    if not dirs:
        dirs = (
            *sorted(Path.home().joinpath(".pyenv/versions").glob("*/bin")),
            *sorted(Path.home().joinpath(".local/share/uv/python").glob("*/bin")),
            Path("/usr/local/bin"),
            Path("/usr/bin"),
        )
    found = []
    for d in dirs:
        if not d.is_dir():
            continue
        for exe in sorted(d.iterdir()):
            m = _VERSION_DIR.match(exe.name)
            if m and int(m.group(1)) >= 8 and exe.is_file():
                found.append(exe)
    return found


def open_to_others(interp: Interpreter) -> bool:
    """Whether users other than the interpreter's owner can run it: builds and dynos run
    as each app's own user. Checks the prefix, the executable and its standard library."""
    major_minor = ".".join(interp.version.split(".")[:2])
    lib = interp.prefix / "lib"
    return closed_to_others((interp.prefix, interp.path, lib, lib / f"python{major_minor}")) is None


def discover(name: str, dirs: tuple[Path, ...] = (), *, shared: bool = False) -> Stack:
    """The interpreters found in ``dirs`` (or the usual places). ``shared``: apps run as
    their own users, so interpreters only their owner can run are left out (and said)."""
    interpreters: dict[str, Interpreter] = {}
    skipped: list[str] = []
    for exe in _candidates(dirs):
        try:
            out = subprocess.run(
                [str(exe), "-c", _PROBE], capture_output=True, text=True, timeout=10, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        version, prefix = json.loads(out)
        interp = Interpreter(version, exe.resolve(), Path(prefix).resolve())
        if shared and not open_to_others(interp):
            skipped.append(
                f"Python {version} at {interp.prefix} is left out of the stack: app users "
                f"can't run it (chmod -R a+rX {interp.prefix} to use it)"
            )
            continue
        # The same version found twice (a shim and its target): the first one wins.
        interpreters.setdefault(version, interp)
    if not interpreters:
        raise RuntimeError(
            " ".join(["No Python 3.8+ interpreters were found for the stack.", *skipped])
        )
    ordered = tuple(
        sorted(interpreters.values(), key=lambda i: tuple(int(p) for p in i.version.split(".")))
    )
    return Stack(
        name=name,
        interpreters=ordered,
        uv=Path(uv.find_uv_bin()).resolve(),
        buildpack_python=ordered[-1],
        skipped=tuple(dict.fromkeys(skipped)),
    )
