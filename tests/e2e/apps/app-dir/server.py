"""An app that writes its own directory at start, as many Heroku apps do (standard library
only): a log file under /app/logs, a SQLite database, a /app/.gunicorn directory.

GET /                what this dyno finds in /app: its boot token, the log files, the rows
GET /write?path=P    try to write the file P: answers whether that worked
GET /owners?dir=D    the owner (uid) of each entry of the directory D
"""

import json
import os
import sqlite3
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DYNO = os.environ["DYNO"]
BOOT = str(uuid.uuid4())  # differs at every start: a restart must not find the old one

Path("/app/logs").mkdir(exist_ok=True)
Path(f"/app/logs/{DYNO}.log").write_text(f"{BOOT}\n")
Path("/app/.gunicorn").mkdir(exist_ok=True)
lock = threading.Lock()  # one connection, used by the server's threads in turn
db = sqlite3.connect("/app/data.sqlite3", check_same_thread=False)
db.execute("CREATE TABLE IF NOT EXISTS boots (dyno TEXT, token TEXT)")
db.execute("INSERT INTO boots VALUES (?, ?)", (DYNO, BOOT))
db.commit()
print(f"wrote /app/logs/{DYNO}.log and /app/data.sqlite3", flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body: object
        if url.path == "/write":
            try:
                Path(query["path"]).write_text("x")
                body = {"ok": True}
            except OSError as exc:
                body = {"ok": False, "errno": exc.errno}
        elif url.path == "/owners":
            folder = Path(query["dir"])
            body = {p.name: p.lstat().st_uid for p in folder.iterdir()}
        else:
            with lock:
                rows = db.execute("SELECT dyno, token FROM boots").fetchall()
            body = {
                "dyno": DYNO,
                "boot": BOOT,
                "app_owner": os.stat("/app").st_uid,
                "uid": os.getuid(),
                "logs": sorted(os.listdir("/app/logs")),
                "log": Path(f"/app/logs/{DYNO}.log").read_text().strip(),
                "gunicorn_dir": Path("/app/.gunicorn").is_dir(),
                "boots": rows,
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
