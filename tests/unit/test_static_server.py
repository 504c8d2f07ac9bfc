"""The static buildpack's scripts and its server, run for real: bin/detect, bin/compile and
bin/release on an app in tmp_path, then the compiled app's bin/boot serving it on a free
port, spoken to over TCP."""

from __future__ import annotations

import asyncio
import gzip
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cove.ports import free_port

BUILDPACK = Path(__file__).resolve().parents[2] / "src/cove/builder/buildpacks/static"
LIB = BUILDPACK / "lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

pytestmark = pytest.mark.timeout(120)

INDEX = "<!doctype html><title>app</title><script src=/assets/index-3f2a1b9c.js></script>"
ASSET = "console.log('hello from the bundle');\n" * 40  # > 512 bytes: gzipped
BIG = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MB: sent from disk, not from memory
STATIC_JSON = """{
  "root": "dist/",
  "routes": {"/**": "index.html"},
  "redirects": {"/old": {"url": "/new", "status": 302}},
  "headers": {"/assets/**": {"X-Asset": "yes"}, "/": {"X-Home": "1"}}
}"""


def write_app(root: Path, static_json: str = STATIC_JSON) -> Path:
    (root / "dist" / "assets").mkdir(parents=True)
    (root / "dist" / "index.html").write_text(INDEX)
    (root / "dist" / "assets" / "index-3f2a1b9c.js").write_text(ASSET)
    (root / "dist" / "big.bin").write_bytes(BIG)
    (root / "static.json").write_text(static_json)
    return root


def script(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUILDPACK / "bin" / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "COVE_BUILDPACK_PYTHON": sys.executable, **(env or {})},
    )


def compile_app(app: Path) -> subprocess.CompletedProcess[str]:
    (app.parent / "env").mkdir(exist_ok=True)
    (app.parent / "cache").mkdir(exist_ok=True)
    return script("compile", str(app), str(app.parent / "cache"), str(app.parent / "env"))


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server did not listen")


class Served:
    def __init__(self, app: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(app / "bin" / "boot")],
            env={"PATH": "/usr/bin:/bin", "PORT": str(self.port), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=app,
        )
        wait_port(self.port, self.proc)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code


Response = tuple[int, dict[str, str], bytes]


def read_response(sock: socket.socket, buf: bytearray, head_request: bool = False) -> Response:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {bytes(buf)!r}")
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_request or status == 304 else int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed in the body")
        buf += chunk
    body = bytes(buf[:length])
    del buf[:length]
    return status, headers, body


def request(
    port: int, path: str = "/", method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    fields = {"Host": "site.example", **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_response(sock, bytearray(), head_request=method == "HEAD")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app = write_app(tmp_path_factory.mktemp("static") / "app")
    result = compile_app(app)
    assert result.returncode == 0, result.stdout + result.stderr
    return app


@pytest.fixture(scope="module")
def server(app: Path) -> Iterator[Served]:
    served = Served(app)
    yield served
    assert served.stop() == 0


# --- the buildpack's scripts -------------------------------------------------------------------


def test_detect_needs_static_json(tmp_path: Path) -> None:
    assert script("detect", str(tmp_path)).returncode == 1
    (tmp_path / "static.json").write_text("{}")
    detected = script("detect", str(tmp_path))
    assert (detected.returncode, detected.stdout.strip()) == (0, "Static HTML")


def test_release_gives_web_a_server(tmp_path: Path) -> None:
    out = script("release", str(tmp_path)).stdout
    assert "default_process_types:" in out and "web: bin/boot" in out


def test_compile_installs_the_server(app: Path) -> None:
    assert os.access(app / "bin" / "boot", os.X_OK)
    assert os.readlink(app / ".heroku" / "static" / "python") == sys.executable
    assert (app / ".heroku" / "static" / "static_server" / "http.py").is_file()


@pytest.mark.parametrize(
    ("static_json", "message"),
    [
        ("{", "static.json is not valid JSON"),
        ('{"root": "build/"}', 'The site\'s root "build/" is not a directory of the app'),
        ('{"root": "dist/", "basic_auth": true}', '"basic_auth": basic_auth is not supported'),
        ('{"root": "dist/", "routes": {"/**": 1}}', '"routes"'),
    ],
)
def test_compile_errors(tmp_path: Path, static_json: str, message: str) -> None:
    app = write_app(tmp_path / "app", static_json)
    result = compile_app(app)
    assert result.returncode == 1
    assert message in result.stdout
    assert not (app / "bin" / "boot").exists()


# --- serving -------------------------------------------------------------------------------------


def test_index_and_history_fallback(server: Served) -> None:
    status, headers, body = request(server.port, "/")
    assert (status, body.decode()) == (200, INDEX)
    assert headers["content-type"] == "text/html; charset=UTF-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-home"] == "1"
    status, headers, body = request(server.port, "/some/client/route?tab=2")
    assert (status, body.decode()) == (200, INDEX)
    assert "x-home" not in headers


def test_fingerprinted_asset(server: Served) -> None:
    status, headers, body = request(server.port, "/assets/index-3f2a1b9c.js")
    assert (status, body.decode()) == (200, ASSET)
    assert headers["content-type"] == "text/javascript; charset=UTF-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-asset"] == "yes"
    assert headers["content-length"] == str(len(ASSET))
    assert headers["last-modified"].endswith(" GMT") and headers["etag"].startswith('"')


def test_missing_asset_is_a_404_not_the_index(server: Served) -> None:
    status, headers, body = request(server.port, "/assets/index-00000000.js")
    assert status == 404 and INDEX.encode() not in body
    assert headers["x-asset"] == "yes"  # the rule is the path's, whatever the answer


def test_conditional_requests(server: Served) -> None:
    _, headers, _ = request(server.port, "/assets/index-3f2a1b9c.js")
    etag, modified = headers["etag"], headers["last-modified"]
    status, headers304, body = request(
        server.port, "/assets/index-3f2a1b9c.js", headers={"If-None-Match": f'"x", W/{etag}'}
    )
    assert (status, body) == (304, b"")
    assert headers304["etag"] == etag and headers304["cache-control"].startswith("public")
    status, _, _ = request(
        server.port, "/assets/index-3f2a1b9c.js", headers={"If-Modified-Since": modified}
    )
    assert status == 304
    status, _, body = request(
        server.port, "/assets/index-3f2a1b9c.js", headers={"If-None-Match": '"other"'}
    )
    assert (status, body.decode()) == (200, ASSET)
    # The fallback's index answers 304 too (its validators are index.html's).
    _, headers, _ = request(server.port, "/a/route")
    status, _, _ = request(
        server.port, "/another/route", headers={"If-None-Match": headers["etag"]}
    )
    assert status == 304


def test_gzip(server: Served) -> None:
    status, headers, body = request(
        server.port, "/assets/index-3f2a1b9c.js", headers={"Accept-Encoding": "br, gzip;q=0.8"}
    )
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body).decode() == ASSET
    gz_etag = headers["etag"]
    status, headers, _ = request(
        server.port, "/assets/index-3f2a1b9c.js", headers={"Accept-Encoding": "gzip;q=0"}
    )
    assert "content-encoding" not in headers and headers["etag"] != gz_etag
    status, _, _ = request(
        server.port,
        "/assets/index-3f2a1b9c.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": gz_etag},
    )
    assert status == 304


def test_head(server: Served) -> None:
    status, headers, body = request(server.port, "/assets/index-3f2a1b9c.js", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(ASSET))


def test_large_file_from_disk(server: Served) -> None:
    status, headers, body = request(server.port, "/big.bin")
    assert status == 200 and body == BIG
    assert headers["content-type"] == "application/octet-stream"
    status, headers, body = request(server.port, "/big.bin", method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", str(len(BIG)))


@pytest.mark.parametrize(
    "path", ["/../static.json", "/%2e%2e/static.json", "/assets/..%2f..%2fstatic.json", "/a%00"]
)
def test_path_traversal_is_refused(server: Served, path: str) -> None:
    status, _, body = request(server.port, path)
    assert status == 400 and b'"root"' not in body


def test_redirect_and_methods(server: Served) -> None:
    status, headers, _ = request(server.port, "/old")
    assert (status, headers["location"]) == (302, "/new")
    status, headers, _ = request(server.port, "/", method="DELETE")
    assert (status, headers["allow"]) == (405, "GET, HEAD")


def test_keep_alive_pipelining_and_close(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
        sock.sendall(
            two + b"GET /assets/index-3f2a1b9c.js HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        buf = bytearray()
        assert read_response(sock, buf)[2].decode() == INDEX
        assert read_response(sock, buf)[2] == BIG
        status, headers, body = read_response(sock, buf)
        assert (status, body.decode(), headers["connection"]) == (200, ASSET, "close")
        assert sock.recv(1) == b""


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ],
)
def test_broken_requests_are_answered_and_closed(server: Served, raw: bytes, status: int) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        assert read_response(sock, bytearray())[0] == status
        assert sock.recv(1) == b""


def test_a_request_body_is_not_read_and_closes_the_connection(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        status, headers, _ = read_response(sock, bytearray())
        assert (status, headers["connection"]) == (405, "close")
        assert sock.recv(1) == b""


def test_https_only_and_canonical_host(tmp_path: Path) -> None:
    config = '{"root": "dist/", "https_only": true, "canonical_host": "${HOST}"}'
    app = write_app(tmp_path / "app", config)
    assert compile_app(app).returncode == 0
    served = Served(app, {"HOST": "www.example.com"})
    try:
        status, headers, _ = request(served.port, "/x?y=1")
        assert (status, headers["location"]) == (301, "https://site.example/x?y=1")
        forwarded = {"X-Forwarded-Proto": "https"}
        status, headers, _ = request(served.port, "/x?y=1", headers=forwarded)
        assert (status, headers["location"]) == (301, "https://www.example.com/x?y=1")
        status, _, body = request(
            served.port, "/", headers={**forwarded, "Host": "www.example.com"}
        )
        assert (status, body.decode()) == (200, INDEX)
    finally:
        assert served.stop() == 0


def test_access_log_goes_to_stdout(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    assert compile_app(app).returncode == 0
    served = Served(app)
    request(served.port, "/log-me", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
    served.proc.send_signal(signal.SIGTERM)
    out, _ = served.proc.communicate(timeout=30)
    assert served.proc.returncode == 0
    assert b'203.0.113.9 "GET /log-me HTTP/1.1" 200' in out


def test_workers_share_the_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    assert compile_app(app).returncode == 0
    served = Served(app, {"STATIC_WORKERS": "2"})
    for _ in range(20):
        assert request(served.port, "/")[0] == 200
    assert served.stop() == 0


def test_a_worker_that_dies_takes_the_server_down(tmp_path: Path) -> None:
    """Not left running short-handed: the dyno exits and Cove restarts it."""
    app = write_app(tmp_path / "app")
    assert compile_app(app).returncode == 0
    served = Served(app, {"STATIC_WORKERS": "2"})
    children = Path(f"/proc/{served.proc.pid}/task/{served.proc.pid}/children")
    deadline = time.monotonic() + 20  # the socket listens before the workers are forked
    while len(workers := [int(pid) for pid in children.read_text().split()]) < 2:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.01)
    os.kill(workers[0], signal.SIGKILL)
    assert served.proc.wait(timeout=30) != 0
    for stream in (served.proc.stdout, served.proc.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BASIC_AUTH_USERNAME": "u"}, "refusing to serve the site publicly"),
        ({"STATIC_WORKERS": "lots"}, "STATIC_WORKERS must be a number"),
    ],
)
def test_start_errors(app: Path, env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [str(app / "bin" / "boot")],
        env={"PATH": "/usr/bin:/bin", "PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and message in result.stderr


def test_boot_falls_back_to_python3_when_the_link_is_dangling(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    assert compile_app(app).returncode == 0
    link = app / ".heroku" / "static" / "python"
    link.unlink()
    link.symlink_to("/nonexistent/python3.99")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    port = free_port()
    proc = subprocess.Popen(
        [str(app / "bin" / "boot")],
        env={"PATH": f"{bindir}:/usr/bin:/bin", "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, proc)
        assert request(port, "/")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


# --- deadlines and caps, in-process with short limits ------------------------------------------


@pytest.fixture
def quick_site(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[int]:
    """A server in this process with (head timeout, idle timeout, connection cap) from the
    test's parameter: the limit under test short, the others out of the way."""
    http = importlib.import_module("static_server.http")
    config = importlib.import_module("static_server.config")
    files = importlib.import_module("static_server.files")
    head, idle, cap = request.param
    monkeypatch.setattr(http, "SEND_TIMEOUT", 0.5)
    monkeypatch.setattr(http, "HEAD_TIMEOUT", head)
    monkeypatch.setattr(http, "IDLE_TIMEOUT", idle)
    monkeypatch.setattr(http, "MAX_CONNECTIONS", cap)
    app = write_app(tmp_path / "app")
    loop = asyncio.new_event_loop()
    site = http.Site(config.parse({"root": "dist/"}, {}), files.Files(str(app / "dist")), loop)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = loop.run_until_complete(loop.create_server(lambda: http.Connection(site), sock=sock))
    site.log.enabled = False
    site.start_sweeping()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    quick_sites[sock.getsockname()[1]] = site
    yield sock.getsockname()[1]
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(site.stop)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


quick_sites: dict[int, object] = {}  # port -> its Site, for looking at its connections


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("quick_site", [(0.3, 600, 100)], indirect=True)
def test_a_slow_head_is_closed(quick_site: int) -> None:
    with socket.create_connection(("127.0.0.1", quick_site)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert closed_within(sock, 10)


@pytest.mark.parametrize("quick_site", [(600, 0.3, 100)], indirect=True)
def test_an_idle_connection_is_closed(quick_site: int) -> None:
    with socket.create_connection(("127.0.0.1", quick_site)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 200
        assert closed_within(sock, 10)


@pytest.mark.parametrize("quick_site", [(600, 600, 3)], indirect=True)
def test_connections_over_the_cap_are_refused(quick_site: int) -> None:
    held = [socket.create_connection(("127.0.0.1", quick_site)) for _ in range(3)]
    try:
        for sock in held:  # each one accepted and served: they hold the three places
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_response(sock, bytearray())[0] == 200
        with socket.create_connection(("127.0.0.1", quick_site)) as extra:
            assert closed_within(extra, 10)
    finally:
        for sock in held:
            sock.close()


def stalled(conns: set[Any]) -> bool:
    """Whether a connection waits for its client to read (the set belongs to the server's
    thread: a copy made while it changes is retried on the next look)."""
    try:
        return any(conn.paused for conn in list(conns))
    except RuntimeError:
        return False


@pytest.mark.parametrize("quick_site", [(600, 600, 100)], indirect=True)
def test_a_client_that_stops_reading_is_dropped(quick_site: int) -> None:
    site = quick_sites[quick_site]
    # More than the kernel's socket buffers and the server's write buffer can hold.
    Path(site.files.root, "huge.bin").write_bytes(b"x" * (48 << 20))  # type: ignore[attr-defined]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", quick_site))
    with sock:
        sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: a\r\n\r\n")  # never read
        conns = site.connections  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while not stalled(conns):  # its buffers full
            assert time.monotonic() < deadline, "the response never filled the buffers"
            time.sleep(0.01)
        while conns:
            assert time.monotonic() < deadline, "the stalled connection was kept"
            time.sleep(0.01)


# --- the buildpack's names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("cove/static", "cove/static"),
        ("heroku-community/static", "heroku-community/static"),
        (
            "https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku-community/static.tgz",
            "heroku-community/static",
        ),
        ("https://github.com/heroku/heroku-buildpack-static", "heroku-community/static"),
        ("https://github.com/heroku/heroku-buildpack-static.git", "heroku-community/static"),
    ],
)
def test_names_users_write_for_the_static_buildpack(url: str, name: str) -> None:
    from cove.builder import buildpacks

    assert buildpacks.validate_url(url) == name
    assert buildpacks.resolve([url])[0].path == BUILDPACK


def test_a_static_site_is_detected_without_buildpacks_set() -> None:
    from cove.builder import buildpacks

    assert "heroku-community/static" in buildpacks.DEFAULT_BUILDPACKS
