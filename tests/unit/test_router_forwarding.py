"""X-Forwarded-* from trusted front proxies and untrusted clients, and https redirects that
point at the router's HTTP port."""

from __future__ import annotations

from cove.router.headers import build_request_head, rewrite_location
from cove.router.server import forwarded_fields

SPOOFED = [
    (b"Host", b"app.localhost"),
    (b"X-Forwarded-For", b"203.0.113.9"),
    (b"X-Forwarded-Proto", b"https"),
    (b"X-Forwarded-Port", b"443"),
]


def forwarded(trusted: bool, listener: bytes = b"http", port: int = 5080) -> dict[bytes, bytes]:
    head = build_request_head(
        b"GET", b"/", SPOOFED, b"10.0.0.7", forwarded_fields(listener, port), 0, False, trusted
    )[0]
    lines = head.split(b"\r\n")[1:-2]
    return dict(line.split(b": ", 1) for line in lines)  # type: ignore[misc]


def test_an_untrusted_client_cannot_say_https_and_its_address_is_appended() -> None:
    seen = forwarded(trusted=False)
    assert seen[b"X-Forwarded-Proto"] == b"http"
    assert seen[b"X-Forwarded-Port"] == b"5080"
    assert seen[b"X-Forwarded-For"] == b"203.0.113.9, 10.0.0.7"  # rightmost: the peer


def test_a_trusted_proxy_keeps_its_forwarded_headers() -> None:
    seen = forwarded(trusted=True)
    assert seen[b"X-Forwarded-Proto"] == b"https"
    assert seen[b"X-Forwarded-Port"] == b"443"
    assert seen[b"X-Forwarded-For"] == b"203.0.113.9"  # the proxy's own address is not added


def test_a_trusted_proxy_without_forwarded_headers_gets_the_listeners() -> None:
    head = build_request_head(
        b"GET",
        b"/",
        [(b"Host", b"app.localhost")],
        b"10.0.0.7",
        forwarded_fields(b"https", 5443),
        0,
        False,
        True,
    )[0]
    assert b"X-Forwarded-For: 10.0.0.7\r\n" in head
    assert b"X-Forwarded-Proto: https\r\nX-Forwarded-Port: 5443\r\n" in head


def test_the_https_listener_says_https() -> None:
    seen = forwarded(trusted=False, listener=b"https", port=5443)
    assert (seen[b"X-Forwarded-Proto"], seen[b"X-Forwarded-Port"]) == (b"https", b"5443")


def test_redirects_to_https_on_the_http_port_move_to_the_https_port() -> None:
    old, new = b"https://app.localhost:5080", b"https://app.localhost:5443"
    headers = [
        (b"Location", b"https://app.localhost:5080/next?x=1"),
        (b"X-Other", b"https://app.localhost:5080/"),
    ]
    assert rewrite_location(headers, old, new) == [
        (b"Location", b"https://app.localhost:5443/next?x=1"),
        (b"X-Other", b"https://app.localhost:5080/"),
    ]
    for kept in (b"https://app.localhost:50800/", b"https://other.localhost:5080/", b"/rel"):
        assert rewrite_location([(b"location", kept)], old, new) == [(b"location", kept)]
    assert rewrite_location([(b"location", old)], old, new) == [(b"location", new)]
