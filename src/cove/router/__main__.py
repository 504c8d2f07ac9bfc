"""Run the router standalone in front of fixed backends (for benchmarks and poking at it).

    python -m cove.router --port 8080 --app bench --backend 127.0.0.1:5000

serves ``bench.<domain>`` from the given backends; log lines go to stdout with ``--log``.
With ``--https-port``, also over HTTPS, with a CA and certificate made in ``--tls-dir``
(its ``server.pem``/``server-key.pem`` serve a reference proxy too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
from collections import deque
from pathlib import Path

from cove.limits import raise_open_files_limit
from cove.router.server import Router
from cove.router.table import Backend, RouteTable


def _backend(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _serve(args: argparse.Namespace) -> None:
    table = RouteTable(args.domain)
    table.set_app(args.app)
    table.set_backends(
        args.app,
        [Backend(f"web.{i}", *_backend(b)) for i, b in enumerate(args.backend, start=1)],
    )
    sink: deque[str] = deque(maxlen=1000)  # stands in for the log router's ring buffer

    def log(app: str, line: str) -> None:
        if args.log:
            print(f"heroku[router]: {line}", flush=True)
        else:
            sink.append(line)

    raise_open_files_limit()  # as `cove server` does; the caps are sized from it
    router = Router(table, log=log)
    await router.start(args.host, args.port)
    print(f"cove router listening on {args.host}:{router.port}", flush=True)
    if args.https_port is not None:
        from cove import tls

        files = tls.TlsFiles(Path(args.tls_dir or tempfile.mkdtemp(prefix="cove-tls-")))
        tls.ensure_server_cert(files, tls.server_names(args.host, args.domain))
        context = tls.ServerTls(files, args.domain, is_app=lambda app: app == args.app).context
        await router.start_tls(args.host, args.https_port, context)
        print(f"cove router listening for HTTPS on {args.host}:{router.tls_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await router.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m cove.router")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--domain", default="localhost")
    parser.add_argument("--app", default="bench")
    parser.add_argument("--backend", action="append", required=True, help="HOST:PORT")
    parser.add_argument("--log", action="store_true", help="print router log lines")
    parser.add_argument("--https-port", type=int, help="also listen for HTTPS here")
    parser.add_argument("--tls-dir", help="where the CA and certificate go (default: a temp dir)")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay runnable
        asyncio.run(_serve(args))
    else:
        uvloop.run(_serve(args))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
