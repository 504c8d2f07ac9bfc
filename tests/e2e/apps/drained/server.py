"""A web process whose log is drained (standard library only).

GET /lines?n=N&tag=T writes N log lines ("T line i of N") before answering; any other
path writes "served <path>". FLOOD=max: also writes numbered lines ("flood line N") as
fast as the pipe takes them, from a thread; FLOOD=<n>: n of them a second, in 10 ms ticks
(what the drain benchmark measures).
"""

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/lines":
            query = parse_qs(url.query)
            count = int(query.get("n", ["1"])[0])
            tag = query.get("tag", ["lines"])[0]
            text = "".join(f"{tag} line {i} of {count}\n" for i in range(1, count + 1))
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            print(f"served {self.path}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def flood(rate: float) -> None:
    n, started = 0, time.monotonic()
    while True:
        if rate:  # the lines due by now, then sleep a tick
            count = int((time.monotonic() - started) * rate) - n
            if count <= 0:
                time.sleep(0.01)
                continue
        else:
            count = 1000
        block = "".join(f"flood line {n + i}\n" for i in range(count)).encode()
        os.write(sys.stdout.fileno(), block)
        n += count


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
setting = os.environ.get("FLOOD", "")
if setting:
    rate = 0.0 if setting == "max" else float(setting)
    threading.Thread(target=flood, args=(rate,), daemon=True).start()
server.serve_forever(poll_interval=0.05)
