"""A tiny web process whose behaviour config vars control (standard library only).

CRASH=1: exit at start, with status 3.
DAEMON=<marker>: first start a double-forked daemon (it leaves the process group, as
`gunicorn --daemon` does) whose command line carries "<marker>-daemon".
IGNORE_TERM=1: ignore SIGTERM (so stopping it needs SIGKILL).
NO_BIND=1: never bind $PORT.
TEXT: the response body.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("CRASH") == "1":
    print("crashing on purpose", flush=True)
    sys.exit(3)
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.environ.get("NO_BIND") == "1":
    print("not binding $PORT", flush=True)
    time.sleep(3600)

marker = os.environ.get("DAEMON")
if marker and os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)", marker + "-daemon"]
        )
        os._exit(0)
    os._exit(0)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = os.environ.get("TEXT", "ok").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
server.daemon_threads = False  # server_close() waits for requests in flight


def drain(*_: object) -> None:
    """SIGTERM: stop accepting, finish the requests in flight, exit (as gunicorn does)."""
    threading.Thread(target=server.shutdown).start()


if os.environ.get("IGNORE_TERM") != "1":
    signal.signal(signal.SIGTERM, drain)
server.serve_forever(poll_interval=0.05)
server.server_close()
