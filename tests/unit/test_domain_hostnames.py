"""Custom domain hostnames: validation (with its messages) and wildcard matching."""

from __future__ import annotations

import pytest

from cove.domain import hostnames
from cove.domain.errors import InvalidParams


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM.", "www.example.com"),
        ("example.com", "example.com"),
        ("*.example.com", "*.example.com"),
        ("a-b.x1.example.test", "a-b.x1.example.test"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_valid_hostnames_are_normalized(given: str, normalized: str) -> None:
    assert hostnames.normalize(given) == normalized


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "Hostname is required."),
        ("localhost", "needs at least two labels"),
        ("*.com", "needs at least two labels"),
        ("www..example.com", "has an empty label"),
        ("-www.example.com", "don't start or end with a hyphen"),
        ("www-.example.com", "don't start or end with a hyphen"),
        ("ww_w.example.com", "labels hold letters, digits and hyphens"),
        ("www.example.com:80", "labels hold letters, digits and hyphens"),
        ("www.*.example.com", "wildcard only as its first label"),
        ("*.*.example.com", "wildcard only as its first label"),
        ("a" * 64 + ".example.com", "a label longer than 63 characters"),
        (("a" * 60 + ".") * 5 + "com", "too long"),
        ("10.0.0.1", "is an IP address"),
    ],
)
def test_invalid_hostnames_are_refused_with_the_reason(given: str, message: str) -> None:
    with pytest.raises(InvalidParams) as refused:
        hostnames.normalize(given)
    assert message in refused.value.message


def test_a_wildcard_matches_exactly_one_label() -> None:
    assert hostnames.matches("*.example.com", "www.example.com")
    assert hostnames.matches("*.example.com", "api.example.com")
    assert not hostnames.matches("*.example.com", "example.com")
    assert not hostnames.matches("*.example.com", "a.b.example.com")
    assert not hostnames.matches("*.example.com", "www.example.org")
    assert hostnames.matches("www.example.com", "www.example.com")
    assert not hostnames.matches("www.example.com", "api.example.com")
    assert hostnames.wildcard_for("example") is None
