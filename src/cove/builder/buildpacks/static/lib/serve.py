"""Serve the site: ``serve.py APP_DIR`` reads APP_DIR/static.json and listens on $PORT.

With ``STATIC_WORKERS`` > 1 (default: 1) that many processes share the listening socket,
each with its own event loop; the first one to exit takes the others down, so the dyno
exits and is restarted rather than running short-handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

from static_server.config import ConfigError, load
from static_server.files import Files
from static_server.http import Connection, Site

STOP_GRACE = 10.0  # seconds busy connections get to finish after SIGTERM


def _fatal(message: str) -> None:
    print(f"static: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _serve(site: Site, sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopped.done() or stopped.set_result(None))
    server = await loop.create_server(lambda: Connection(site), sock=sock)
    site.start_sweeping()
    await stopped
    server.close()
    site.stop()
    deadline = loop.time() + STOP_GRACE
    while site.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    site.log.flush()


def _run(config_text: str | None, app_dir: str, sock: socket.socket) -> None:
    try:
        config = load(config_text or "{}", os.environ)
    except ConfigError as exc:
        _fatal(str(exc))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    files = Files(os.path.join(app_dir, config.root), config.encoding)
    loop.run_until_complete(_serve(Site(config, files, loop), sock))


def _workers() -> int:
    raw = os.environ.get("STATIC_WORKERS", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        _fatal(f"STATIC_WORKERS must be a number from 1 to 64, not {raw!r}")
    return int(raw)


def main() -> None:
    app_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    if os.environ.get("BASIC_AUTH_USERNAME"):
        _fatal(
            "BASIC_AUTH_USERNAME is set but basic authentication is not supported: "
            "refusing to serve the site publicly"
        )
    try:
        with open(os.path.join(app_dir, "static.json"), encoding="utf-8-sig") as f:
            config_text: str | None = f.read()
    except FileNotFoundError:
        config_text = None
    except (OSError, UnicodeDecodeError) as exc:
        _fatal(f"can't read static.json: {exc}")
    try:
        config = load(config_text or "{}", os.environ)
    except ConfigError as exc:
        _fatal(str(exc))
    root = config.root
    if config.canonical_host is not None and "${" in config.canonical_host:
        _fatal(f'"canonical_host" {config.canonical_host} names a config var that is not set')
    if not os.path.isdir(os.path.join(app_dir, root)):
        _fatal(f'the site\'s root "{root}" is not a directory of the app (static.json "root")')
    port = os.environ.get("PORT", "")
    if not port.isdigit():
        _fatal("PORT is not set")
    sock = _listen(int(port))
    workers = _workers()
    print(
        f"static: serving {root} on port {port} ({workers} process(es))",
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        _run(config_text, app_dir, sock)
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _run(config_text, app_dir, sock)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _pid, status = os.wait()
    forward(signal.SIGTERM, None)
    for _ in children[1:]:
        os.wait()
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else 1)


if __name__ == "__main__":
    main()
