"""A hostile app for the isolation tests (standard library only). Each endpoint tries one
attack on a neighbouring app or on Cove and answers with what happened, as JSON:

/whoami                     uid, gid, user name, capabilities, visible processes
/read?path=P                read a file (or list a directory)
/scan?needle=S              look for S in every visible process's environment
/kill?pid=N                 SIGKILL a pid
/mknod                      create a block device for the host's first disk
/forkbomb                   fork until the kernel refuses, then clean up
/unshare                    create a user namespace
/keyctl                     use the kernel keyring
/alloc?mb=N                 allocate and hold N more MB
/squat?port=P               listen on port P (another dyno's next $PORT), answering "squatter"
/squatted                   how many HTTP requests the squatted ports received
/connect?host=H&port=P      open a TCP connection (2 s at most) and read what it says
/address                    this dyno's own address (its route out) and $PORT
"""

import ctypes
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HELD: list[bytes] = []
SQUATTED_REQUESTS: list[str] = []


def failure(exc: OSError) -> dict[str, object]:
    return {"ok": False, "error": type(exc).__name__, "errno": exc.errno}


def whoami(_: dict[str, str]) -> dict[str, object]:
    status = dict(
        line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines()
    )
    return {
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "name": pwd.getpwuid(os.getuid()).pw_name,
        "cap_eff": status["CapEff"].strip(),
        "cap_bnd": status["CapBnd"].strip(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    }


def read(q: dict[str, str]) -> dict[str, object]:
    path = q["path"]
    try:
        if os.path.isdir(path):
            return {"ok": True, "entries": os.listdir(path)}
        with open(path, "rb") as f:
            return {"ok": True, "data": f.read(4096).decode(errors="replace")}
    except OSError as exc:
        return failure(exc)


def scan(q: dict[str, str]) -> dict[str, object]:
    needle = q["needle"].encode()
    seen, found = [], []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            seen.append(int(entry))
            if needle in environ:
                found.append(int(entry))
    return {"read": seen, "found": found}


def kill(q: dict[str, str]) -> dict[str, object]:
    pid = int(q["pid"])
    if pid == os.getpid() or pid == 1:
        return {"ok": False, "error": "refusing to kill myself"}
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        return failure(exc)
    return {"ok": True}


def mknod(_: dict[str, str]) -> dict[str, object]:
    try:
        os.mknod("/tmp/disk", 0o600 | stat.S_IFBLK, os.makedev(8, 0))
    except OSError as exc:
        return failure(exc)
    return {"ok": True}


def namespaces(_: dict[str, str]) -> dict[str, object]:
    """Make a user namespace (to be "root" in it, a common first step of kernel exploits)."""
    done = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True)
    return {"ok": done.returncode == 0, "error": done.stderr.strip()}


def keyring(_: dict[str, str]) -> dict[str, object]:
    """keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create=1): the kernel keyring."""
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(250, 0, -3, 1)
    return {"ok": result >= 0, "errno": ctypes.get_errno() if result < 0 else 0}


def forkbomb(_: dict[str, str]) -> dict[str, object]:
    children = []
    error = ""
    while len(children) < 100_000:
        try:
            pid = os.fork()
        except OSError as exc:
            error = type(exc).__name__
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    return {"forks": len(children), "error": error}


def alloc(q: dict[str, str]) -> dict[str, object]:
    HELD.append(b"x" * (int(q["mb"]) * 1024 * 1024))  # bytes * n touches every page
    return {"held_mb": sum(len(b) for b in HELD) // (1024 * 1024)}


class Squatter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SQUATTED_REQUESTS.append(self.headers.get("Host", ""))
        body = b"squatter"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def squat(q: dict[str, str]) -> dict[str, object]:
    try:
        server = ThreadingHTTPServer(("0.0.0.0", int(q["port"])), Squatter)
    except OSError as exc:
        return failure(exc)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return {"ok": True}


def squatted(_: dict[str, str]) -> dict[str, object]:
    return {"requests": len(SQUATTED_REQUESTS), "hosts": sorted(set(SQUATTED_REQUESTS))}


def connect(q: dict[str, str]) -> dict[str, object]:
    try:
        conn = socket.create_connection((q["host"], int(q["port"])), timeout=2)
    except OSError as exc:
        return failure(exc)
    with conn:
        try:  # what it says first, if anything (Redis waits for the client)
            said = conn.recv(64).decode(errors="replace")
        except OSError:
            said = ""
        return {"ok": True, "said": said}


def address(_: dict[str, str]) -> dict[str, object]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this picks the route out
        return {"address": probe.getsockname()[0], "port": int(os.environ["PORT"])}


ATTACKS = {
    "/whoami": whoami,
    "/read": read,
    "/scan": scan,
    "/kill": kill,
    "/mknod": mknod,
    "/forkbomb": forkbomb,
    "/unshare": namespaces,
    "/keyctl": keyring,
    "/alloc": alloc,
    "/squat": squat,
    "/squatted": squatted,
    "/connect": connect,
    "/address": address,
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        attack = ATTACKS.get(url.path)
        if attack is None:
            body = b"ok"
        else:
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = json.dumps(attack(query)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
