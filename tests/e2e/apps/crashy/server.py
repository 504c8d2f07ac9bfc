"""A tiny web process whose behaviour config vars control (standard library only).

CRASH=1: exit at start, with status 3.
DAEMON=<marker>: first start a double-forked daemon (it leaves the process group, as
`gunicorn --daemon` does) whose command line carries "<marker>-daemon".
TEXT: the response body.
"""

import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("CRASH") == "1":
    print("crashing on purpose", flush=True)
    sys.exit(3)

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


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
