"""Which drain URLs Cove accepts, and how one is named without its credentials."""

from __future__ import annotations

import pytest

from cove.domain import drain_url
from cove.domain.drain_url import DrainUrl
from cove.domain.errors import InvalidParams


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("syslog://logs.example.com:514", DrainUrl("syslog", "logs.example.com", 514)),
        ("syslog+tls://logs.example.com:6514", DrainUrl("syslog+tls", "logs.example.com", 6514)),
        ("SYSLOG+TLS://Logs.Example.com:6514", DrainUrl("syslog+tls", "logs.example.com", 6514)),
        ("https://logs.example.com/ingest?k=v", DrainUrl("https", "logs.example.com", 443)),
        ("http://127.0.0.1:8080/", DrainUrl("http", "127.0.0.1", 8080)),
        (
            "https://user:secret@logs.example.com:8443/x",
            DrainUrl("https", "logs.example.com", 8443),
        ),
        ("syslog://[::1]:514", DrainUrl("syslog", "::1", 514)),
    ],
)
def test_accepted_urls(url: str, parsed: DrainUrl) -> None:
    assert drain_url.parse(url) == parsed


def test_what_tls_and_syslog_mean() -> None:
    assert drain_url.parse("syslog+tls://h:1").tls and drain_url.parse("syslog+tls://h:1").is_syslog
    assert not drain_url.parse("syslog://h:1").tls and drain_url.parse("syslog://h:1").is_syslog
    assert drain_url.parse("https://h").tls and not drain_url.parse("https://h").is_syslog
    assert not drain_url.parse("http://h").tls


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://logs.example.com:21", "starts with syslog://, syslog+tls://, http:// or https://"),
        ("syslog+udp://logs.example.com:514", "starts with syslog://"),
        ("logs.example.com:514", "starts with syslog://"),
        ("syslog://logs.example.com", "a syslog drain needs a port (syslog://host:port)"),
        ("syslog+tls://logs.example.com/", "a syslog drain needs a port"),
        ("syslog://:514", "it has no host"),
        ("https:///path", "it has no host"),
        ("syslog://logs.example.com:99999", "its port is not a number from 1 to 65535"),
        ("syslog://logs.example.com:0", "its port is not a number from 1 to 65535"),
        ("syslog://logs.example.com:port", "its port is not a number from 1 to 65535"),
        ("https://[::1/x", "its host can't be read"),
        ("", "give one URL, without spaces"),
        ("https://logs.example.com/a b", "give one URL, without spaces"),
        ("https://logs.example.com/\x00", "give one URL, without spaces"),
        ("https://logs.example.com/" + "a" * 2048, "of at most 2048 bytes"),
        ("https://logs.exämple.com/", "a URL is ASCII"),
        ("https://logs.example.com/\ud800", "a URL is ASCII"),
    ],
)
def test_rejected_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        drain_url.parse(url)
    assert caught.value.message.startswith("Url is invalid: ")
    assert reason in caught.value.message


def test_errors_never_repeat_the_url_or_its_credentials() -> None:
    for url in (
        "ftp://alice:hunter2@logs.example.com:21",
        "syslog://alice:hunter2@logs.example.com",
        "https://alice:hunter2@logs.example.com:70000/",
    ):
        with pytest.raises(InvalidParams) as caught:
            drain_url.parse(url)
        assert "hunter2" not in caught.value.message and "alice" not in caught.value.message


def test_safe_names_scheme_host_and_port_only() -> None:
    url = "https://alice:hunter2@logs.example.com/ingest?token=s3cret#frag"
    assert drain_url.safe(url) == "https://logs.example.com:443/"
    assert drain_url.safe("syslog://[::1]:514") == "syslog://[::1]:514/"
    assert drain_url.safe("ftp://alice:hunter2@x") == "(an invalid drain URL)"
