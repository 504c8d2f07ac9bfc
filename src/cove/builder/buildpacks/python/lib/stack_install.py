"""Asking Cove's server for a Python version the stack lacks.

The build runs as the app's user and can't write the shared stack, so the server installs
the version (once, for every app) when the buildpack asks over the socket named by
``COVE_RUNTIME_INSTALLER`` (cove.builder.runtime_requests); its progress is shown as build
output. Without that variable
(the buildpack run by hand) only the interpreters in ``COVE_PYTHONS`` exist.
"""

from __future__ import annotations

import json
import socket

from output import BuildError, detail, step


def installer(environ: dict[str, str]) -> str | None:
    return environ.get("COVE_RUNTIME_INSTALLER") or None


def request(path: str, spec: str, where: str) -> tuple[str, str]:
    """Ask the server for Python ``spec``; returns (full version, interpreter path)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            ask = {"runtime": "python", "version": spec, "where": where}
            sock.sendall(json.dumps(ask).encode() + b"\n")
            for raw in sock.makefile("rb"):
                message = json.loads(raw)
                if "step" in message:
                    step(str(message["step"]))
                elif "line" in message:
                    detail(str(message["line"]))
                elif "error" in message:
                    raise BuildError(str(message["error"]))
                else:
                    return str(message["version"]), str(message["path"])
    except (OSError, ValueError, KeyError) as exc:
        raise BuildError(
            f"Couldn't ask the Cove server for Python {spec} ({exc}). This is a Cove bug."
        ) from exc
    raise BuildError(f"The Cove server didn't answer for Python {spec}. This is a Cove bug.")
