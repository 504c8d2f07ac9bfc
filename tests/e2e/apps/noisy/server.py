"""A web process that is noisy on stdout (standard library only).

LONG_LINE=<n>: once listening, write one line of <n> bytes (the digits 0-9 over and over)
without a newline in between, then "after the long line".
FLOOD=1: write log lines as fast as the pipe takes them, like `yes`, from a thread.
Every request logs "served <path>"; the response body is TEXT (default "ok").
"""

import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        print(f"served {self.path}", flush=True)
        body = os.environ.get("TEXT", "ok").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def flood() -> None:
    block = b"flooding the log with one more line\n" * 2000
    while True:
        os.write(sys.stdout.fileno(), block)


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

length = int(os.environ.get("LONG_LINE", "0"))
if length:
    digits = b"0123456789" * (length // 10 + 1)
    sys.stdout.buffer.write(digits[:length] + b"\n")
    print("after the long line", flush=True)
if os.environ.get("FLOOD") == "1":
    threading.Thread(target=flood, daemon=True).start()
server.serve_forever(poll_interval=0.05)
