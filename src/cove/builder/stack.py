"""The stack: what the host provides to builds and dynos.

A slug holds the app and its virtualenv; the interpreter the venv points at is provided by
the stack, at the same absolute path in every sandbox. Interpreters found on the host
(pyenv, the system's) are bound at their own path, because builds such as pyenv's
hard-code it; those Cove installs itself are relocatable and appear under a fixed path
(``/cove/pythons``), whatever ``COVE_HOME`` is.

The stack is a recorded set, not whatever the server's ``$HOME`` shows today: every
interpreter it has had is written to ``COVE_HOME/stack/interpreters.json`` and stays in the
stack (offered to builds, bound into every sandbox) while it exists, whatever user or
``$HOME`` `cove server` runs with next. Discovery only adds to it. A slug's venv names its
interpreter by absolute path, so one that is gone cannot be stood in for: the releases that
need it are named at start, and their dynos fail to start saying so.

Cove also installs interpreters itself, while it runs, into ``COVE_HOME/stack/pythons``
(cove.builder.python_install): that directory is bound into sandboxes as a whole, at
``/cove/pythons``, so an interpreter installed during a build is visible to it at once, and
is then added here. Sandboxes never see ``COVE_HOME``'s path, and slugs built on those
interpreters don't depend on it: the server works with host paths (probing, permissions,
the record), and everything a sandbox is told or a slug records uses ``in_sandbox``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import uv

from cove.sandbox import Mount
from cove.sandbox.users import closed_to_others
from cove.settings import STACK, Settings

_VERSION_DIR = re.compile(r"^python3\.(\d+)$")
_PROBE = "import json,sys;print(json.dumps([sys.version.split()[0], sys.prefix]))"
# Every sandbox sees the host's /usr (and the merged /bin, /lib links): an interpreter
# there needs no binding of its own.
_SYSTEM = tuple(PurePosixPath(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib64"))
# Where every sandbox sees COVE_HOME/stack/pythons (beside /cove/bin/uv).
PYTHONS_IN_SANDBOX = PurePosixPath("/cove/pythons")
# Where builds see COVE_HOME/stack/nodes, and dynos the one Node.js their slug links to
# (``.heroku/node``, a link to ``/cove/nodes/<version>``).
NODES_IN_SANDBOX = PurePosixPath("/cove/nodes")
_NODE_LINK = re.compile(r"^/cove/nodes/(\d{1,3}\.\d{1,4}\.\d{1,4})/?$")


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.12.1"
    path: Path  # the python3.X executable
    prefix: Path  # sys.prefix, bound into sandboxes


class MissingInterpreter(RuntimeError):
    """A slug's virtualenv links to an interpreter the stack doesn't have (any more)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the slug's virtualenv needs the Python interpreter {path}, which the stack "
            "no longer has. Deploy again (the build uses one the stack has), or reinstall "
            "that interpreter at the same path and restart cove server."
        )
        self.path = path


class MissingNodeRuntime(MissingInterpreter):
    """A slug links to a Node.js runtime the stack doesn't have (any more)."""

    def __init__(self, version: str) -> None:
        RuntimeError.__init__(
            self,
            f"the slug runs on Node.js {version}, which the stack no longer has. Deploy "
            "again (the build installs it), or restore it under COVE_HOME/stack/nodes.",
        )
        self.path = str(NODES_IN_SANDBOX / version)


@dataclass
class Stack:
    """Shared by the builder and the dyno backend: an interpreter installed while the
    server runs (``add``) is offered to the next builds and bound into the next dynos."""

    name: str
    # Offered to builds: one per version (COVE_PYTHONS).
    interpreters: tuple[Interpreter, ...]
    uv: Path
    # Runs the buildpacks themselves: the newest offered, or the host's own Python when
    # the stack has none yet (every version is then installed on demand).
    buildpack_python: Interpreter
    # Why interpreters were left out (one sentence each), said at `cove server` start.
    skipped: tuple[str, ...] = ()
    # Every interpreter of the stack that exists, bound into sandboxes: the offered ones
    # and those older slugs link to (a second build of one version, one found under a
    # previous $HOME). Empty means the same as ``interpreters``.
    provided: tuple[Interpreter, ...] = ()
    # Where Cove installs interpreters (bound into sandboxes as a whole, at
    # PYTHONS_IN_SANDBOX) and the record.
    installs: Path | None = None
    record: Path | None = None
    # Where Cove installs Node.js runtimes (cove.builder.node_install).
    nodes: Path | None = None

    def all(self) -> tuple[Interpreter, ...]:
        return self.provided or self.interpreters

    def mounts(self) -> list[Mount]:
        seen: set[Path] = set()
        mounts = []
        if self.installs is not None and self.installs.is_dir():
            mounts.append(Mount(self.installs, str(PYTHONS_IN_SANDBOX)))
        for interp in self.all():
            if interp.prefix in seen or _is_system(interp.prefix) or self._installed(interp):
                continue
            seen.add(interp.prefix)
            mounts.append(Mount(interp.prefix, str(interp.prefix)))
        mounts.append(Mount(self.uv, "/cove/bin/uv"))
        return mounts

    def build_mounts(self) -> list[Mount]:
        """A build's mounts: the interpreters and every Node.js runtime (a runtime
        installed during the build is visible to it at once)."""
        mounts = self.mounts()
        if self.nodes is not None and self.nodes.is_dir():
            mounts.append(Mount(self.nodes, str(NODES_IN_SANDBOX)))
        return mounts

    def node_mounts(self, app_dir: Path) -> list[Mount]:
        """The Node.js runtime the slug unpacked at ``app_dir`` links to, if any; raises
        MissingNodeRuntime if the stack lacks it. The link is the app's to write: only a
        version directory of the stack's own is ever bound."""
        link = app_dir / ".heroku" / "node"
        if not link.is_symlink():
            return []
        match = _NODE_LINK.match(str(link.readlink()))
        if match is None:
            return []
        version = match[1]
        runtime = self.nodes / version if self.nodes is not None else None
        if runtime is None or not (runtime / "bin" / "node").is_file():
            raise MissingNodeRuntime(version)
        return [Mount(runtime, str(NODES_IN_SANDBOX / version))]

    def _installed(self, interp: Interpreter) -> bool:
        return self.installs is not None and self.installs in interp.prefix.parents

    def in_sandbox(self, path: Path) -> str:
        """Where sandboxes see the stack's file at host ``path``: under PYTHONS_IN_SANDBOX
        for what Cove installed, at its own path otherwise."""
        if self.installs is not None and self.installs in path.parents:
            return str(PYTHONS_IN_SANDBOX / path.relative_to(self.installs))
        return str(path)

    def on_host(self, path: str) -> str:
        """The host path of a sandbox path under PYTHONS_IN_SANDBOX (for the operator's
        messages); other paths are the same on both sides."""
        inside = PurePosixPath(path)
        if self.installs is not None and PYTHONS_IN_SANDBOX in inside.parents:
            return str(self.installs / inside.relative_to(PYTHONS_IN_SANDBOX))
        return path

    def add(self, interp: Interpreter) -> None:
        """An interpreter installed while the server runs: offered to builds (unless the
        stack already offers its version) and recorded, so it stays in the stack."""
        if interp.path in {i.path for i in self.all()}:
            return
        self.provided = (*self.all(), interp)
        if interp.version not in {i.version for i in self.interpreters}:
            self.interpreters = tuple(
                sorted((*self.interpreters, interp), key=lambda i: _version_key(i.version))
            )
        if self.record is not None:
            recorded = read_record(self.record)
            if interp not in recorded:
                write_record(self.record, [*recorded, interp])

    def find(self, spec: str) -> Interpreter | None:
        """The newest offered interpreter matching ``X.Y`` or ``X.Y.Z``."""
        wanted = tuple(int(p) for p in spec.split("."))
        matches = [i for i in self.interpreters if _version_key(i.version)[: len(wanted)] == wanted]
        return max(matches, key=lambda i: _version_key(i.version)) if matches else None

    def provides(self, interpreter: str) -> bool:
        """Whether a sandbox can run the interpreter at this absolute path (a path inside
        sandboxes). Only compared with what the stack has, never looked up on the host: the
        path comes from a slug, which is the app's to write."""
        if _is_system(PurePosixPath(interpreter)):
            return True
        return interpreter in {self.in_sandbox(i.path) for i in self.all()}

    def dyno_mounts(self, app_dir: Path) -> list[Mount]:
        """The stack's mounts for a dyno running the slug unpacked at ``app_dir``; raises
        MissingInterpreter if its virtualenv needs an interpreter the stack lacks (rather
        than a dyno crash-looping on a dangling ``python``)."""
        from cove.builder.slug import venv_interpreter

        needed = venv_interpreter(app_dir)
        if needed is not None and not self.provides(needed):
            raise MissingInterpreter(needed)
        return [*self.mounts(), *self.node_mounts(app_dir)]

    def versions_json(self) -> str:
        """COVE_PYTHONS: full version -> interpreter, as the build's sandbox sees it."""
        return json.dumps({i.version: self.in_sandbox(i.path) for i in self.interpreters})

    def default_version(self, configured: str, fallback: str) -> str:
        """COVE_DEFAULT_PYTHON, else the newest major version the stack has, else
        ``fallback`` (installed by the first build that needs it)."""
        if configured:
            return configured
        if not self.interpreters:
            return fallback
        newest = max(self.interpreters, key=lambda i: _version_key(i.version))
        return ".".join(newest.version.split(".")[:2])


def _is_system(path: PurePosixPath | Path) -> bool:
    return any(path == top or top in path.parents for top in _SYSTEM)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def default_dirs() -> tuple[Path, ...]:
    """Where interpreters are looked for without COVE_PYTHON_DIRS: pyenv's and uv's under
    the server's $HOME, then the system's."""
    return (
        *sorted(Path.home().joinpath(".pyenv/versions").glob("*/bin")),
        *sorted(Path.home().joinpath(".local/share/uv/python").glob("*/bin")),
        Path("/usr/local/bin"),
        Path("/usr/bin"),
    )


def installed_dirs(root: Path) -> tuple[Path, ...]:
    """The ``bin`` directories of interpreters installed under ``root`` (Cove's own,
    ``COVE_HOME/stack/pythons``: ``uv python install --install-dir`` lays them out so)."""
    return tuple(sorted(root.glob("*/bin")))


def _candidates(dirs: tuple[Path, ...]) -> list[Path]:
    found = []
    for d in dirs or default_dirs():
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


def _probe(exe: Path) -> Interpreter | None:
    # Run as the file it resolves to: a virtualenv's python would report the venv as its
    # prefix, while the venvs of slugs link to (and sandboxes must bind) the real one.
    path = exe.resolve()
    try:
        out = subprocess.run(
            [str(path), "-c", _PROBE], capture_output=True, text=True, timeout=10, check=True
        ).stdout
        version, prefix = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return Interpreter(version, path, Path(prefix).resolve())


def read_record(path: Path) -> list[Interpreter]:
    """The interpreters recorded in the stack file (none if it is missing or unreadable:
    the record is rebuilt from what is found)."""
    try:
        rows = json.loads(path.read_text())["interpreters"]
        return [Interpreter(r["version"], Path(r["path"]), Path(r["prefix"])) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def write_record(path: Path, interpreters: list[Interpreter]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{k: str(v) for k, v in asdict(i).items()} for i in interpreters]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"interpreters": rows}, indent=2) + "\n")
    tmp.replace(path)


def discover_stack(settings: Settings, *, shared: bool) -> Stack:
    """The stack `cove server` starts with: COVE_PYTHON_DIRS (or the usual places), the
    interpreters Cove installed, and the record. Without downloads it must offer at least
    one interpreter; with them it may start empty (builds install what they ask for)."""
    settings.pythons_dir.mkdir(parents=True, exist_ok=True)
    settings.pythons_dir.chmod(0o755)  # app users run what Cove installs there
    settings.nodes_dir.mkdir(parents=True, exist_ok=True)
    settings.nodes_dir.chmod(0o755)
    return discover(
        STACK,
        (*(settings.python_dirs or default_dirs()), *installed_dirs(settings.pythons_dir)),
        shared=shared,
        record=settings.stack_file,
        installs=settings.pythons_dir,
        nodes=settings.nodes_dir,
        allow_empty=settings.python_downloads != "never",
    )


def host_python() -> Interpreter | None:
    """The newest Python 3.9+ of the host's own (/usr/bin, /usr/local/bin): runs the
    buildpack when the stack has no interpreter yet."""
    found = [_probe(exe) for exe in _candidates((Path("/usr/local/bin"), Path("/usr/bin")))]
    usable = [i for i in found if i is not None and _version_key(i.version) >= (3, 9)]
    return max(usable, key=lambda i: _version_key(i.version)) if usable else None


def discover(
    name: str,
    dirs: tuple[Path, ...] = (),
    *,
    shared: bool = False,
    record: Path | None = None,
    installs: Path | None = None,
    allow_empty: bool = False,
    nodes: Path | None = None,
) -> Stack:
    """The interpreters found in ``dirs`` (or the usual places), plus those recorded in
    ``record`` that still exist; the record is then updated with what was found (an
    interpreter that is gone stays recorded: it is used again if it comes back).
    ``shared``: apps run as their own users, so interpreters only their owner can run are
    left out (and said). ``allow_empty``: none found is fine (Cove installs them), as
    long as the host has a Python to run the buildpack with."""
    recorded = read_record(record) if record is not None else []
    found: list[Interpreter] = []
    skipped: list[str] = []
    probes = [*_candidates(dirs), *(i.path for i in recorded if i.path.is_file())]
    # Each file probed once: a link and its target (uv's minor-version directories beside
    # the installs, /usr/local/bin links, the record's resolved paths) are one interpreter.
    for exe in dict.fromkeys(path.resolve() for path in probes):
        interp = _probe(exe)
        if interp is None:
            continue
        if shared and not open_to_others(interp):
            skipped.append(
                f"Python {interp.version} at {interp.prefix} is left out of the stack: app "
                f"users can't run it (chmod -R a+rX {interp.prefix} to use it)"
            )
            continue
        found.append(interp)
    provided = {interp.path: interp for interp in found}
    offered: dict[str, Interpreter] = {}
    for interp in provided.values():
        # The same version found twice: the first one (the configured dirs) wins.
        offered.setdefault(interp.version, interp)
    runner = max(offered.values(), key=lambda i: _version_key(i.version)) if offered else None
    if runner is None and allow_empty:
        runner = host_python()
    if runner is None:
        raise RuntimeError(
            " ".join(["No Python 3.8+ interpreters were found for the stack.", *skipped])
        )
    if record is not None:
        gone = [i for i in recorded if i.path not in provided]
        write_record(record, [*provided.values(), *gone])
    ordered = tuple(sorted(offered.values(), key=lambda i: _version_key(i.version)))
    return Stack(
        name=name,
        interpreters=ordered,
        uv=Path(uv.find_uv_bin()).resolve(),
        buildpack_python=runner,
        skipped=tuple(dict.fromkeys(skipped)),
        provided=tuple(provided.values()),
        # Resolved as probed paths are, so that what is installed there is recognised.
        installs=installs.resolve() if installs is not None else None,
        record=record,
        nodes=nodes,
    )
