"""A web process that misbehaves at start (standard library only).

--daemon   print a line, then detach as `gunicorn --daemon` does (fork, setsid, fork): the
           grandchild serves $PORT and the process the dyno started exits 0 at once.
Without it, it serves $PORT in the foreground (a Procfile may still background it with
`&` and exit).
"""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

print(f"booting on port {os.environ['PORT']}", flush=True)
if "--daemon" in sys.argv:
    if os.fork() > 0:
        print("detaching: the server goes on in the background", flush=True)
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
