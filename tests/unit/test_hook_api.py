"""The git hook's standard-library API client, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cove import tls
from cove.client.trust import only
from cove.gitreceiver.hook_api import HookApi, HookApiError
from cove.ports import free_port


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None, bytes]] = []
    connections: set[int] = set()

    def log_message(self, *args: object) -> None:
        pass

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        _Api.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        _Api.connections.add(self.client_address[1])
        return body

    def _json(self, status: int, data: object) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._record()
        if self.path == "/sources":
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            blob = {"put_url": f"{base}/sources/s1", "get_url": f"{base}/sources/s1"}
            self._json(201, {"source_blob": blob})
        elif self.path == "/apps/gone/builds":
            self._json(404, {"id": "not_found", "message": "Couldn't find that app."})
        else:
            self._json(201, {"id": "b1", "output_stream_url": self._url("/streams/b1")})

    def do_PUT(self) -> None:
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/streams/"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in (b"-----> Building\n", b"line with CR\r\n", b"last"):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/apps/broken/"):
            self.send_response(502)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"gateway")
        else:
            self._json(200, {"id": "b1", "status": "succeeded", "release": {"id": "r1"}})

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def api_url() -> Iterator[str]:
    _Api.seen.clear()
    _Api.connections.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_push_is_sources_upload_build_and_its_streamed_output(api_url: str) -> None:
    with HookApi(api_url, "secret-token", None) as api:
        blob = api.create_source()["source_blob"]
        api.upload_source(blob["put_url"], b"tar bytes")
        build = api.create_build("my-app", blob["get_url"], "abc123")
        lines = list(api.stream_build_output(build["output_stream_url"]))
        assert api.get_build("my-app", "b1")["status"] == "succeeded"
        assert api.get_release("my-app", "r1")["id"] == "b1"
    assert lines == ["-----> Building", "line with CR", "last"]
    calls = [(method, path) for method, path, _, _ in _Api.seen]
    assert calls == [
        ("POST", "/sources"),
        ("PUT", "/sources/s1"),
        ("POST", "/apps/my-app/builds"),
        ("GET", "/streams/b1"),
        ("GET", "/apps/my-app/builds/b1"),
        ("GET", "/apps/my-app/releases/r1"),
    ]
    assert all(auth == "Bearer secret-token" for _, _, auth, _ in _Api.seen)
    assert _Api.seen[1][3] == b"tar bytes"
    body = json.loads(_Api.seen[2][3])
    assert body == {"source_blob": {"url": blob["get_url"], "version": "abc123"}}
    assert len(_Api.connections) == 1  # one kept-alive connection for the whole push


def test_an_api_error_carries_the_apis_message(api_url: str) -> None:
    with HookApi(api_url, "t", None) as api, pytest.raises(HookApiError) as error:
        api.create_build("gone", f"{api_url}/sources/s1", "abc")
    assert str(error.value) == "Couldn't find that app."


def test_a_non_json_error_says_its_status(api_url: str) -> None:
    with HookApi(api_url, "t", None) as api, pytest.raises(HookApiError) as error:
        api.get_build("broken", "b1")
    assert str(error.value) == "HTTP 502: Bad Gateway"


def test_an_unreachable_api_is_an_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with HookApi(url, "t", None) as api, pytest.raises(HookApiError) as error:
        api.create_source()
    assert str(error.value).startswith(f"could not reach {url}")


def test_a_url_outside_the_api_is_refused_not_sent_the_token(api_url: str) -> None:
    with HookApi(api_url, "secret-token", None) as api, pytest.raises(HookApiError) as error:
        api.upload_source("http://203.0.113.9/upload", b"x")
    assert "outside the API" in str(error.value)
    assert _Api.seen == []


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The API over TLS with a certificate of an operator's CA: its URL, that CA, and
    Cove's own CA (which didn't sign it)."""
    _Api.seen.clear()
    operator = tls.ensure_ca(tls.TlsFiles(tmp_path / "operator"))
    cove_ca = tls.TlsFiles(tmp_path / "cove")
    tls.ensure_ca(cove_ca)
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    tls.issue(operator, ["127.0.0.1"], cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield (
        f"https://127.0.0.1:{server.server_address[1]}",
        tmp_path / "operator" / "ca.pem",
        cove_ca.ca_cert,
    )
    server.shutdown()
    server.server_close()


def test_the_wider_trust_is_made_only_when_cove_s_own_ca_does_not_verify(
    tls_api: tuple[str, Path, Path],
) -> None:
    url, operator_ca, cove_ca = tls_api
    made: list[Path] = []

    def wider(ca: Path) -> ssl.SSLContext:
        made.append(ca)
        return only(ca)

    # An operator's certificate: Cove's CA fails, the wider trust (made once) verifies it.
    with HookApi(url, "t", only(cove_ca), lambda: wider(operator_ca)) as api:
        assert api.get_build("my-app", "b1")["status"] == "succeeded"
        assert api.get_build("my-app", "b1")["status"] == "succeeded"
    assert made == [operator_ca]
    # Cove's own certificate (here: the first trust verifies): nothing more is made.
    with HookApi(url, "t", only(operator_ca), lambda: wider(cove_ca)) as api:
        assert api.get_build("my-app", "b1")["status"] == "succeeded"
    assert made == [operator_ca]
    # With nothing wider to try, a certificate no trusted CA signed is refused, saying why.
    with HookApi(url, "t", only(cove_ca)) as api, pytest.raises(HookApiError) as error:
        api.get_build("my-app", "b1")
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.value)
