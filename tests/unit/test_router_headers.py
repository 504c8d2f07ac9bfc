"""Request/response head rewriting and the router log line."""

from __future__ import annotations

import uuid

import pytest

from cove.router.headers import (
    BODY_CHUNKED,
    BODY_NONE,
    BODY_RAW,
    build_interim_head,
    build_request_head,
    build_response_head,
    new_request_id,
)
from cove.router.logline import H12, H14, H80, router_line
from cove.router.server import forwarded_fields


def request(headers: list[tuple[bytes, bytes]], upgrade: bool = False) -> tuple:
    return build_request_head(
        b"GET",
        b"/p?q=1",
        headers,
        b"10.0.0.1",
        forwarded_fields(b"http", 443),
        1700000000123,
        upgrade,
    )


def parse(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    assert head.endswith(b"\r\n\r\n")
    first, *lines = head[:-4].split(b"\r\n")
    return first, [tuple(line.split(b": ", 1)) for line in lines]  # type: ignore[misc]


def test_request_head_adds_forwarding_headers() -> None:
    head, host, rid, fwd, has_body, chunked = request([(b"Host", b"Foo.localhost:80")])
    first, headers = parse(head)
    assert first == b"GET /p?q=1 HTTP/1.1"
    assert headers == [
        (b"Host", b"Foo.localhost:80"),
        (b"X-Forwarded-For", b"10.0.0.1"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Port", b"443"),
        (b"X-Request-Start", b"1700000000123"),
        (b"X-Request-Id", rid.encode()),
        (b"Via", b"1.1 cove"),
    ]
    assert (host, fwd, has_body, chunked) == (b"Foo.localhost:80", b"10.0.0.1", False, False)
    assert uuid.UUID(rid).version == 4


def test_request_head_appends_and_replaces() -> None:
    head, _, _, fwd, _, _ = request(
        [
            (b"x-forwarded-for", b"1.1.1.1"),
            (b"X-Forwarded-For", b"2.2.2.2, 3.3.3.3"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Forwarded-Port", b"1"),
            (b"X-Request-Start", b"t=1"),
            (b"Via", b"1.0 a"),
            (b"VIA", b"1.1 b"),
            (b"Host", b"h"),
        ]
    )
    _, headers = parse(head)
    assert fwd == b"1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1"
    d = dict(headers)
    assert d[b"X-Forwarded-For"] == fwd
    assert d[b"X-Forwarded-Proto"] == b"http"
    assert d[b"X-Forwarded-Port"] == b"443"
    assert d[b"X-Request-Start"] == b"1700000000123"
    assert d[b"Via"] == b"1.0 a, 1.1 b, 1.1 cove"
    names = [n.lower() for n, _ in headers]
    assert len(names) == len(set(names))


def test_request_head_strips_hop_by_hop_including_connection_named() -> None:
    head, _, _, _, _, _ = request(
        [
            (b"X-Early", b"named below, so dropped though it comes first"),
            (b"Host", b"h"),
            (b"Connection", b"keep-alive, X-Early"),
            (b"Connection", b"x-late"),
            (b"X-Late", b"dropped"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"TE", b"trailers"),
            (b"Trailer", b"X-Foo"),
            (b"Upgrade", b"h2c"),
            (b"Accept", b"*/*"),
        ]
    )
    _, headers = parse(head)
    names = {n.lower() for n, _ in headers}
    for hop in (b"x-early", b"connection", b"x-late", b"keep-alive", b"proxy-connection"):
        assert hop not in names
    for hop in (b"te", b"trailer", b"upgrade"):
        assert hop not in names
    assert (b"Accept", b"*/*") in headers


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("a" * 19, False),
        ("a" * 20, True),
        ("a" * 200, True),
        ("a" * 201, False),
        ("AZaz09+/=-" * 3, True),
        ("abcdefghijklmnopqrst!", False),
        ("abcdefghij klmnopqrst", False),
        ("", False),
    ],
)
def test_request_id_kept_only_when_valid(given: str, kept: bool) -> None:
    _, _, rid, _, _, _ = request([(b"X-Request-Id", given.encode())])
    if kept:
        assert rid == given
    else:
        assert uuid.UUID(rid).version == 4


def test_new_request_ids_are_uuid4_and_distinct() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for rid in list(ids)[:50]:
        u = uuid.UUID(rid)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, rid)


def test_request_body_framing() -> None:
    _, _, _, _, has_body, chunked = request([(b"Content-Length", b"10")])
    assert (has_body, chunked) == (True, False)
    _, _, _, _, has_body, _ = request([(b"Content-Length", b"0")])
    assert not has_body
    head, _, _, _, has_body, chunked = request([(b"Transfer-Encoding", b"chunked")])
    assert (has_body, chunked) == (True, True)
    assert head.count(b"Transfer-Encoding: chunked\r\n") == 1


def test_upgrade_request_keeps_upgrade() -> None:
    head, *_ = request([(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")], upgrade=True)
    _, headers = parse(head)
    assert (b"Upgrade", b"websocket") in headers
    assert (b"Connection", b"upgrade") in headers


RESP = [(b"Server", b"app"), (b"Content-Length", b"5"), (b"Content-Type", b"text/plain")]


def response(headers: list[tuple[bytes, bytes]], **kw: bool) -> tuple[bytes, int, bool, bool]:
    args = {"head_request": False, "http11": True, "close": False} | kw
    return build_response_head(200, headers, **args)


def test_response_with_length_passes_through() -> None:
    head, body, close, eof = response(RESP)
    assert head == (
        b"HTTP/1.1 200 OK\r\nServer: app\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\nVia: 1.1 cove\r\n\r\n"
    )
    assert (body, close, eof) == (BODY_RAW, False, False)


def test_response_chunked_is_rechunked_for_http11_and_raw_for_http10() -> None:
    headers = [(b"Transfer-Encoding", b"chunked")]
    head, body, close, eof = response(headers)
    assert b"Transfer-Encoding: chunked\r\n" in head
    assert (body, close, eof) == (BODY_CHUNKED, False, False)
    head, body, close, eof = response(headers, http11=False)
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close\r\n" in head
    assert (body, close, eof) == (BODY_RAW, True, False)


def test_close_delimited_response() -> None:
    head, body, close, eof = response([(b"Content-Type", b"text/plain")])
    assert (body, close, eof) == (BODY_CHUNKED, False, True)
    assert b"Transfer-Encoding: chunked\r\n" in head
    _, body, close, eof = response([], http11=False)
    assert (body, close, eof) == (BODY_RAW, True, True)


def test_response_without_body() -> None:
    head, body, _, _ = response(RESP, head_request=True)
    assert body == BODY_NONE
    assert b"Content-Length: 5\r\n" in head  # HEAD keeps the length of what GET would send
    for status in (204, 304):
        _, body, _, _ = build_response_head(
            status, [], head_request=False, http11=True, close=False
        )
        assert body == BODY_NONE


def test_response_connection_headers_for_client() -> None:
    head, *_ = response(RESP, close=True)
    assert b"Connection: close\r\n" in head
    head, *_ = response(RESP, http11=False)
    assert b"Connection: keep-alive\r\n" in head
    head, *_ = response(RESP)
    assert b"Connection" not in head


def test_response_hop_by_hop_stripped_and_via_appended() -> None:
    head, *_ = response(
        [
            *RESP,
            (b"Connection", b"keep-alive, X-Hop"),
            (b"Keep-Alive", b"timeout=5"),
            (b"X-Hop", b"gone"),
            (b"Trailer", b"X-T"),
            (b"Via", b"1.0 cache"),
        ]
    )
    assert b"Keep-Alive" not in head
    assert b"X-Hop" not in head
    assert b"Trailer" not in head
    assert b"Via: 1.0 cache, 1.1 cove\r\n" in head


def test_upgrade_response() -> None:
    head, body, _, _ = build_response_head(
        101,
        [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"), (b"Sec-WebSocket-Accept", b"x")],
        head_request=False,
        http11=True,
        close=False,
        upgrade=True,
    )
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Connection: upgrade\r\nUpgrade: websocket\r\n" in head
    assert b"Sec-WebSocket-Accept: x\r\n" in head
    assert body == BODY_NONE


def test_interim_head() -> None:
    assert build_interim_head(100, []) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert build_interim_head(103, [(b"Link", b"</a.css>"), (b"Connection", b"x")]) == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    )


def test_unknown_status_gets_a_status_line() -> None:
    head, *_ = build_response_head(599, [], head_request=False, http11=True, close=False)
    assert head.startswith(b"HTTP/1.1 599 Unknown\r\n")


# -- log lines -------------------------------------------------------------------------------

RID = "f3b2c5a1-0000-4000-8000-000000000000"


def test_router_line_success() -> None:
    line = router_line(
        None, "GET", "/", "foo.localhost", RID, "127.0.0.1", "web.1", 0.0004, 0.0051, 200, 13
    )
    assert line == (
        f'at=info method=GET path="/" host=foo.localhost request_id={RID} fwd="127.0.0.1" '
        "dyno=web.1 connect=0ms service=5ms status=200 bytes=13 protocol=http"
    )


def test_router_line_errors() -> None:
    line = router_line(
        H12, "POST", "/a?b=c", "foo.localhost", RID, "1.2.3.4, 127.0.0.1", "web.2", 0.001,
        30.0, 503, 0,
    )  # fmt: skip
    assert line == (
        f'at=error code=H12 desc="Request timeout" method=POST path="/a?b=c" '
        f'host=foo.localhost request_id={RID} fwd="1.2.3.4, 127.0.0.1" dyno=web.2 '
        "connect=1ms service=30000ms status=503 bytes=0 protocol=http"
    )
    line = router_line(H14, "GET", "/", "f.l", RID, "::1", "", None, None, 503, None)
    assert line.startswith('at=error code=H14 desc="No web processes running" method=GET')
    assert line.endswith(" dyno= connect= service= status=503 bytes= protocol=http")
    line = router_line(H80, "GET", "/", "f.l", RID, "::1", "", None, None, 503, None)
    assert line.startswith('at=info code=H80 desc="Maintenance mode" ')


def test_router_line_keeps_quotes_parseable() -> None:
    line = router_line(None, "GET", '/a"b', "h", RID, "1", "web.1", 0, 0, 200, 0)
    assert 'path="/a%22b"' in line
