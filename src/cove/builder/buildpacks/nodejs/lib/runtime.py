"""Node.js from Cove's stack: asked of the server (it installs what the stack lacks, once
for every app) and linked at ``.heroku/node``, where the app and its dynos find it."""

from __future__ import annotations

import json
import os
import shutil
import socket

from output import BuildError, detail, step, warning

ANSWER_TIMEOUT = 900.0


def request(environ: dict[str, str], requested: str, allow_wide: bool) -> tuple[str, str]:
    """(version, directory) of the Node.js for engines.node ``requested`` ("" = LTS)."""
    path = environ.get("COVE_RUNTIME_INSTALLER")
    if not path:
        raise BuildError(
            "This buildpack gets Node.js from Cove's server (COVE_RUNTIME_INSTALLER is unset)."
        )
    ask = {"runtime": "node", "range": requested, "allow_wide_range": allow_wide}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_TIMEOUT)
            sock.connect(path)
            sock.sendall(json.dumps(ask).encode() + b"\n")
            show = {"step": step, "line": detail, "warning": warning}
            for message in map(json.loads, sock.makefile("rb")):
                if "error" in message:
                    raise BuildError(str(message["error"]))
                kind = next((k for k in show if k in message), None)
                if kind is None:
                    return str(message["version"]), str(message["path"])
                show[kind](str(message[kind]))
    except (OSError, ValueError, KeyError) as exc:
        raise BuildError(
            f"Couldn't ask the Cove server for Node.js ({exc}). This is a Cove bug."
        ) from None
    raise BuildError("The Cove server didn't answer for Node.js. This is a Cove bug.")


def link(build_dir: str, directory: str) -> str:
    """Point ``.heroku/node`` at the stack's runtime; returns the link's path."""
    heroku = os.path.join(build_dir, ".heroku")
    if os.path.exists(heroku) and not os.path.isdir(heroku):
        raise BuildError(
            "The repository has a file named .heroku, where the build puts Node.js.\n"
            "Remove or rename it, commit and push again."
        )
    os.makedirs(heroku, exist_ok=True)
    node = os.path.join(heroku, "node")
    if os.path.islink(node) or os.path.isfile(node):
        os.unlink(node)
    elif os.path.isdir(node):
        shutil.rmtree(node)
    os.symlink(directory, node)
    return node
