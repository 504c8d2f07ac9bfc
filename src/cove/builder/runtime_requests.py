"""A build's line to the server for runtimes the stack lacks (Python, Node.js).

The buildpack learns which version the app wants only once it runs (Python after
``bin/pre_compile``, from ``runtime.txt``, ``.python-version``, ...; Node from
``engines.node``), inside the sandbox, as the app's user, who can't write the shared stack.
So each build gets one Unix socket (``COVE_RUNTIME_INSTALLER``); a buildpack sends one JSON
line:

- ``{"runtime": "python", "version": "3.12", "where": "in .python-version"}``
  (``runtime`` may be left out: Python), installed by cove.builder.python_install;
- ``{"runtime": "node", "range": "20.x", "allow_wide_range": false}``, resolved and
  installed by cove.builder.node_install (``range`` empty: the current LTS).

The server answers with progress lines for the build output (``{"step": ...}``,
``{"line": ...}``, ``{"warning": ...}``), then ``{"version", "path"}`` (the interpreter, or
the Node directory, as the sandbox sees it) or ``{"error"}``. The stack's install
directories are bound into the sandbox as a whole, so what is installed is visible to the
build at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

from cove import sandbox
from cove.builder.node_install import NodeInstaller, NodeUnavailable
from cove.builder.python_install import PythonInstaller, PythonUnavailable

# Where buildpacks find the socket (COVE_RUNTIME_INSTALLER).
SOCKET_IN_SANDBOX = "/cove/runtime-install.sock"
_PYTHON_SPEC = re.compile(r"^\d{1,2}\.\d{1,3}(\.\d{1,3})?$")
# A buildpack asks once per compile (a few with several buildpacks); the app's own build
# code could ask more.
MAX_REQUESTS = 4
REQUEST_TIMEOUT = 30.0
MAX_REQUEST_BYTES = 4096

Emit = Callable[[str, str], None]
# One runtime's answer to a request: (version, path in the sandbox).
Provide = Callable[[Mapping[str, object], Emit], Awaitable[tuple[str, str]]]
UNAVAILABLE = (PythonUnavailable, NodeUnavailable)


def providers(python: PythonInstaller, node: NodeInstaller) -> dict[str, Provide]:
    async def provide_python(request: Mapping[str, object], emit: Emit) -> tuple[str, str]:
        spec = str(request.get("version", ""))
        if not _PYTHON_SPEC.match(spec):
            raise ValueError(f"bad version {spec!r}")
        where = " ".join(str(request.get("where", "")).split())[:80] or "by the build"
        interp = await python.provide(spec, where, emit)
        # The path the build's sandbox runs it from (its venv records that one).
        return interp.version, python.stack.in_sandbox(interp.path)

    async def provide_node(request: Mapping[str, object], emit: Emit) -> tuple[str, str]:
        requested = " ".join(str(request.get("range", "")).split())
        if len(requested) > 256:
            raise ValueError("range too long")
        return await node.provide(requested, request.get("allow_wide_range") is True, emit)

    return {"python": provide_python, "node": provide_node}


@contextlib.asynccontextmanager
async def serving(
    provide: Mapping[str, Provide], user: sandbox.SandboxUser | None
) -> AsyncIterator[sandbox.Mount]:
    """Serve the build's requests on a socket while the block runs; yields the mount that
    puts it in the build sandbox. The socket lives in a private temporary directory (a
    socket's path must be short; COVE_HOME's may not be), connectable by the build's user."""
    requests = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests

        def send(message: dict[str, str]) -> None:
            writer.write(json.dumps(message).encode() + b"\n")

        try:
            raw = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
            requests += 1
            request = _parse(raw)
            runtime = str(request.get("runtime", "python"))
            if runtime not in provide:
                raise ValueError(f"unknown runtime {runtime!r}")
            if requests > MAX_REQUESTS:
                raise NodeUnavailable("A build may ask for a runtime only a few times.")
            version, path = await provide[runtime](request, lambda kind, text: send({kind: text}))
            send({"version": version, "path": path})
        except UNAVAILABLE as exc:
            send({"error": str(exc)})
        except (TimeoutError, ValueError):
            send({"error": "Cove couldn't read the build's request for a runtime."})
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            writer.close()

    directory = Path(tempfile.mkdtemp(prefix="cove-build-"))
    path = directory / "runtime.sock"
    server = await asyncio.start_unix_server(handle, path=str(path), limit=MAX_REQUEST_BYTES)
    try:
        path.chmod(0o600)
        if user is not None:
            user.chown(path)
        yield sandbox.Mount(path, SOCKET_IN_SANDBOX)
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


def _parse(raw: bytes) -> dict[str, object]:
    request = json.loads(raw)
    if not isinstance(request, dict):
        raise ValueError("not an object")
    return request
