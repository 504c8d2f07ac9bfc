"""Custom domain hostnames: what `domains:add` accepts, and how a wildcard matches.

A hostname is lower-cased, without a trailing dot, at least two labels (``www.example.com``;
a bare ``example.com`` is fine too), each label 1-63 letters, digits or hyphens, not starting
or ending with a hyphen, 253 characters at most. A wildcard is ``*.`` then such a hostname
and matches exactly one more label: ``*.example.com`` serves ``www.example.com``, not
``example.com`` nor ``a.b.example.com``.
"""

from __future__ import annotations

import re

from cove.domain.errors import InvalidParams

MAX_LENGTH = 253
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize(hostname: str) -> str:
    """A valid hostname, lower-cased, or InvalidParams saying what is wrong with it."""
    host = hostname.strip().lower().removesuffix(".")
    if not host:
        raise InvalidParams("Hostname is required.")
    if len(host) > MAX_LENGTH:
        raise InvalidParams(f"Hostname is too long (at most {MAX_LENGTH} characters).")
    labels = host.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        labels = labels[1:]
    if "*" in host[1:]:
        raise InvalidParams("Hostname may have a wildcard only as its first label (*.example.com).")
    if len(labels) < 2:
        raise InvalidParams(
            f"Hostname {hostname!r} needs at least two labels (like www.example.com)."
        )
    for label in labels:
        if not label:
            raise InvalidParams(f"Hostname {hostname!r} has an empty label.")
        if len(label) > 63:
            raise InvalidParams(f"Hostname {hostname!r} has a label longer than 63 characters.")
        if not _LABEL.fullmatch(label):
            raise InvalidParams(
                f"Hostname {hostname!r} is invalid: labels hold letters, digits and hyphens, "
                "and don't start or end with a hyphen."
            )
    if labels[-1].isdigit():
        raise InvalidParams(f"Hostname {hostname!r} is an IP address, not a domain name.")
    return host


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def wildcard_for(hostname: str) -> str | None:
    """The wildcard that would match ``hostname``: ``www.example.com`` -> ``*.example.com``
    (None for a name of one label)."""
    _, dot, parent = hostname.partition(".")
    return f"*.{parent}" if dot and parent else None


def matches(pattern: str, hostname: str) -> bool:
    """Does a domain (exact or wildcard) serve ``hostname``?"""
    if is_wildcard(pattern):
        return wildcard_for(hostname) == pattern
    return pattern == hostname
