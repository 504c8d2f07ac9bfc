"""Request bodies: read only after authentication, and never past their limit.

An unauthenticated body is refused before it is read (the server's memory stays flat
under five 100 MB uploads); an authenticated one over the limit gets 413, whether it
declares its length or grows past it chunk by chunk. Source uploads and git pushes have
their own limits.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, running_server

KiB = 1024
MiB = 1024 * KiB
API_LIMIT = 64 * KiB
SOURCE_LIMIT = 64 * MiB
PUSH_LIMIT = 1 * MiB
# What a client may have sent of a 100 MiB body before it hears it was refused: socket
# buffers both ways, TLS records and read-ahead, a loaded machine. Far below the body.
IN_FLIGHT = 16 * MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    with running_server(
        tmp_path_factory.mktemp("limits"),
        COVE_API_MAX_BODY_BYTES=str(API_LIMIT),
        COVE_SOURCE_MAX_BYTES=str(SOURCE_LIMIT),
        COVE_PUSH_MAX_BYTES=str(PUSH_LIMIT),
    ) as srv:
        yield srv


def memory_mb(server: CoveServer) -> tuple[int, int]:
    """The server's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    assert server.proc is not None
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def raw_exchange(server: CoveServer, head: list[str], body: bytes) -> tuple[int, dict, bytes]:
    """Send a request head and the first part of its body, then read the answer without
    sending the rest: a server that waits for the whole body never answers (and the
    socket times out)."""
    url = urlsplit(server.api_url)
    with (
        socket.create_connection((url.hostname, url.port), timeout=30) as tcp,
        tls_client(server).wrap_socket(tcp, server_hostname=url.hostname) as sock,
    ):
        # A server that answers early and resets the connection can cut this short; its
        # answer was sent before the reset and is still there to read (as clients do).
        with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            sock.sendall(("\r\n".join([*head, f"Host: {url.netloc}", "", ""])).encode() + body)
        data = b""
        # (a close without TLS's goodbye, or the reset)
        with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    header_block, _, content = data.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, content


def tls_client(server: CoveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def counted(total: int, sent: list[int]) -> Iterator[bytes]:
    """A body of ``total`` bytes, counting in ``sent`` how much the client sent."""
    chunk = b"x" * (64 * KiB)
    for _ in range(total // len(chunk)):
        sent[0] += len(chunk)
        yield chunk


def test_unauthenticated_body_is_refused_before_it_is_read(server: CoveServer) -> None:
    for framing in ("Content-Length: 104857600", "Transfer-Encoding: chunked"):
        status, headers, content = raw_exchange(
            server,
            ["POST /apps HTTP/1.1", "Content-Type: application/json", framing],
            b"10000\r\n" + b"x" * (64 * KiB) if "chunked" in framing else b"x" * (64 * KiB),
        )
        assert status == 401, content
        assert json.loads(content) == {
            "id": "unauthorized",
            "message": "Invalid credentials provided.",
        }
        assert headers["connection"] == "close"
    # A wrong token is refused the same way.
    status, _, _ = raw_exchange(
        server,
        [
            "PATCH /apps/x/config-vars HTTP/1.1",
            "Authorization: Bearer nope",
            "Content-Length: 1000000",
        ],
        b"{",
    )
    assert status == 401


def test_five_unauthenticated_100mb_posts_leave_memory_alone(server: CoveServer) -> None:
    before, peak_before = memory_mb(server)
    sent = [[0] for _ in range(5)]
    statuses: list[int] = []

    def post(i: int) -> None:
        response = httpx.post(
            f"{server.api_url}/apps",
            verify=server.verify,
            content=counted(100 * MiB, sent[i]),
            headers={"Content-Type": "application/json", "Content-Length": str(100 * MiB)},
            timeout=60,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after, peak_after = memory_mb(server)
    assert statuses == [401] * 5
    # The client was stopped long before the end of its body...
    assert all(s[0] < IN_FLIGHT for s in sent), sent
    # ... and the server held none of it (before this fix: 126 MB → 830 MB).
    assert after - before < 40 and peak_after - max(before, peak_before) < 40, (
        before,
        after,
        peak_before,
        peak_after,
    )


def test_authenticated_body_over_the_limit_gets_413(server: CoveServer) -> None:
    token = {"Authorization": f"Bearer {server.admin_token}"}
    assert server.api("POST", "/apps", json={"name": "limited"}).status_code == 201
    path = f"{server.api_url}/apps/limited/config-vars"
    expected = {
        "id": "request_entity_too_large",
        "message": "The request body is larger than 64 KiB.",
    }

    # Declared: refused before it is read.
    status, headers, content = raw_exchange(
        server,
        [
            "PATCH /apps/limited/config-vars HTTP/1.1",
            f"Authorization: {token['Authorization']}",
            "Content-Type: application/json",
            f"Content-Length: {100 * MiB}",
        ],
        b"{",
    )
    assert (status, json.loads(content)) == (413, expected)
    assert headers["connection"] == "close"

    # Chunked: stopped where it passes the limit.
    sent = [0]
    response = httpx.patch(
        path,
        content=counted(100 * MiB, sent),
        headers={**token, "Content-Type": "application/json"},
        timeout=60,
        verify=server.verify,
    )
    assert (response.status_code, response.json()) == (413, expected)
    assert sent[0] < IN_FLIGHT

    # Under the limit: a config as large as Heroku allows (64 KB) still fits.
    big = {"BIG": "v" * 60_000}
    response = httpx.patch(path, json=big, headers=token, timeout=60, verify=server.verify)
    assert response.status_code == 200, response.text
    assert server.api("GET", "/apps/limited/config-vars").json() == big


def test_source_uploads_have_their_own_limit_and_go_to_disk(server: CoveServer) -> None:
    sources = server.home / "sources"

    def put_url() -> str:
        return str(server.api("POST", "/sources").json()["source_blob"]["put_url"])

    # Larger than the API's limit, streamed to disk: memory doesn't grow with it.
    url = put_url()
    before, _ = memory_mb(server)
    response = httpx.put(url, content=counted(48 * MiB, [0]), timeout=60, verify=server.verify)
    assert response.status_code == 200, response.text
    assert (sources / url.rsplit("/", 1)[1]).stat().st_size == 48 * MiB
    assert memory_mb(server)[0] - before < 40

    # Over its limit, declared or chunked: 413, and nothing is left on disk.
    expected = {
        "id": "request_entity_too_large",
        "message": "The source archive is larger than 64 MiB.",
    }
    url = put_url()
    response = httpx.put(
        url,
        content=counted(100 * MiB, [0]),
        headers={"Content-Length": str(100 * MiB)},
        timeout=60,
        verify=server.verify,
    )
    assert (response.status_code, response.json()) == (413, expected)
    url = put_url()
    response = httpx.put(url, content=counted(100 * MiB, [0]), timeout=60, verify=server.verify)
    assert (response.status_code, response.json()) == (413, expected)
    assert not (sources / url.rsplit("/", 1)[1]).exists()

    # The URL is the credential: an unknown one is refused before its body is read.
    status, _, content = raw_exchange(
        server, ["PUT /sources/not-a-source HTTP/1.1", f"Content-Length: {100 * MiB}"], b"x"
    )
    assert status == 404 and json.loads(content)["id"] == "not_found"


def test_git_push_authenticates_first_and_has_a_size_limit(
    server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("crashy", "big-push")
    user.cove("apps:create", "big-push", cwd=repo)

    # No credentials: 401 before the body is read.
    head = ["POST /big-push.git/git-receive-pack HTTP/1.1", f"Content-Length: {100 * MiB}"]
    status, headers, _ = raw_exchange(server, head, b"0000")
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    # With them, a push declaring more than the limit: 413 before git starts.
    basic = base64.b64encode(f":{server.admin_token}".encode()).decode()
    status, _, content = raw_exchange(server, [*head, f"Authorization: Basic {basic}"], b"0000")
    assert status == 413, content
    assert b"The push is larger than 1 MiB" in content

    # A real push whose pack is over the limit: git refuses it and says why.
    (repo / "blob.bin").write_bytes(os.urandom(3 * MiB))
    user.commit_all(repo, "a big file")
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "pack exceeds maximum allowed size" in push.stderr
    assert user.git("ls-remote", "cove", cwd=repo).stdout == ""
