"""The many-apps benchmark's app: a standard-library web server (nothing to install, so
100 builds are cheap) answering $TEXT. Like tests/e2e/apps/noisy, but with a listen
backlog of 128 instead of socketserver's 5: behind a proxy that opens connections in
bursts, a backlog of 5 overflows and the dropped SYNs come back after TCP's 1 s
retransmit, which would be measured as the router's p99."""

import os
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = os.environ.get("TEXT", "ok").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
Server(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever(poll_interval=0.05)
