"""A build's line to the server for Python versions the stack lacks.

The buildpack learns which version the app wants only once it runs (after ``bin/pre_compile``,
from ``runtime.txt``, ``.python-version``, ...), inside the sandbox, as the app's user, who
can't write the shared stack. So each build gets a Unix socket: the buildpack sends
``{"version": "3.12", "where": "in .python-version"}``; the server installs that version
(cove.builder.python_install), sending ``{"step": ...}`` / ``{"line": ...}`` progress for
the build output,
then ``{"version", "path"}`` (the path inside the sandbox) or ``{"error"}``. The stack's
install directory is bound into the sandbox as a whole (at ``/cove/pythons``), so the new
interpreter is visible to the build at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from cove import sandbox
from cove.builder.python_install import PythonInstaller, PythonUnavailable

# Where the buildpack finds the socket (COVE_PYTHON_INSTALLER).
SOCKET_IN_SANDBOX = "/cove/python-install.sock"
_SPEC = re.compile(r"^\d{1,2}\.\d{1,3}(\.\d{1,3})?$")
# The buildpack asks once per compile; the app's own build code could ask more.
MAX_REQUESTS = 3
REQUEST_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def serving(
    installer: PythonInstaller, user: sandbox.SandboxUser | None
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
            spec, where = _parse(raw)
            if requests > MAX_REQUESTS:
                raise PythonUnavailable("A build may ask for a Python version only a few times.")
            interp = await installer.provide(spec, where, lambda kind, text: send({kind: text}))
            # The path the build's sandbox runs it from (its venv records that one).
            send({"version": interp.version, "path": installer.stack.in_sandbox(interp.path)})
        except PythonUnavailable as exc:
            send({"error": str(exc)})
        except (TimeoutError, ValueError):
            send({"error": "Cove couldn't read the request for a Python version."})
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            writer.close()

    directory = Path(tempfile.mkdtemp(prefix="cove-build-"))
    path = directory / "python.sock"
    server = await asyncio.start_unix_server(handle, path=str(path))
    try:
        path.chmod(0o600)
        if user is not None:
            user.chown(path)
        yield sandbox.Mount(path, SOCKET_IN_SANDBOX)
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


def _parse(raw: bytes) -> tuple[str, str]:
    request = json.loads(raw)
    if not isinstance(request, dict):
        raise ValueError("not an object")
    spec = str(request.get("version", ""))
    if not _SPEC.match(spec):
        raise ValueError(f"bad version {spec!r}")
    where = " ".join(str(request.get("where", "")).split())[:80] or "by the build"
    return spec, where
