"""npm's semver ranges (``engines.node``: ``20.x``, ``^18.2``, ``>=18 <21``, ``16 || 18``,
``1.2 - 2``), matched against release versions (``X.Y.Z``, no pre-releases).

A range is a set of alternatives (``||``); an alternative is a list of comparators that must
all hold. Partial versions, x-ranges, tilde, caret and hyphen ranges reduce to comparators
the way node-semver reduces them, so an app's range picks what it would pick with npm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

Version = tuple[int, int, int]
# A partial version: None for a missing or wildcard part ("1.x" -> (1, None, None)).
Partial = tuple[int | None, int | None, int | None]

_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$")
_SIMPLE = re.compile(r"^(<=|>=|<|>|=|~>|~|\^)?(.*)$")
_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
# Above any real version: a range it satisfies has no upper bound.
_HUGE: Version = (10**9, 0, 0)


class InvalidRange(ValueError):
    """Not a semver range npm would accept."""


@dataclass(frozen=True)
class Comparator:
    op: str  # one of < <= > >= =
    version: Version

    def test(self, v: Version) -> bool:
        w = self.version
        return {
            "<": v < w,
            "<=": v <= w,
            ">": v > w,
            ">=": v >= w,
            "=": v == w,
        }[self.op]


@dataclass(frozen=True)
class Range:
    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def test(self, version: Version) -> bool:
        return any(all(c.test(version) for c in alt) for alt in self.alternatives)

    @property
    def unbounded(self) -> bool:
        """Whether any future major version would satisfy it (``>=18``, ``*``)."""
        return self.test(_HUGE)


def parse_version(text: str) -> Version | None:
    m = _RELEASE.match(text.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def parse(text: str) -> Range:
    """The range ``text``; raises InvalidRange."""
    source = " ".join(text.split())
    if len(source) > 256:
        raise InvalidRange("a version range is at most 256 characters")
    # ">= 18" means ">=18", as in node-semver.
    normalized = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", source)
    alternatives = tuple(_alternative(part.strip()) for part in normalized.split("||"))
    return Range(text, alternatives)


def max_satisfying(versions: Iterable[str], text: str) -> str | None:
    """The newest of ``versions`` (``X.Y.Z`` strings) inside range ``text``."""
    wanted = parse(text)
    parsed = [(v, key) for v in versions if (key := parse_version(v)) is not None]
    matching = [(key, v) for v, key in parsed if wanted.test(key)]
    return max(matching)[1] if matching else None


def _alternative(text: str) -> tuple[Comparator, ...]:
    if text in ("", "*", "x", "X"):
        return (Comparator(">=", (0, 0, 0)),)
    hyphen = re.fullmatch(r"(\S+) - (\S+)", text)
    if hyphen:
        return (*_lower(_partial(hyphen[1]), ">="), *_upper(_partial(hyphen[2]), "<="))
    comparators: list[Comparator] = []
    for simple in text.split(" "):
        comparators.extend(_simple(simple))
    return tuple(comparators)


def _partial(text: str) -> Partial:
    m = _PARTIAL.match(text)
    if not m:
        raise InvalidRange(f"{text!r} is not a version")
    parts = [None if p is None or p in "xX*" else int(p) for p in m.groups()]
    # Nothing after a wildcard counts ("1.x.3" is "1.x").
    for i, part in enumerate(parts):
        if part is None:
            parts[i + 1 :] = [None] * (2 - i)
            break
    return parts[0], parts[1], parts[2]


def _simple(text: str) -> list[Comparator]:
    m = _SIMPLE.match(text)
    assert m is not None
    op, rest = m[1] or "", m[2]
    p = _partial(rest)
    if op in ("~", "~>"):
        return _tilde(p)
    if op == "^":
        return _caret(p)
    if op in ("", "="):
        return [*_lower(p, ">="), *_upper(p, "<=")]
    if op in (">=", ">"):
        return _lower(p, op)
    return _upper(p, op)


def _lower(p: Partial, op: str) -> list[Comparator]:
    """``>= p`` or ``> p`` for a partial version."""
    major, minor, patch = p
    if major is None:
        return [] if op == ">=" else [Comparator("<", (0, 0, 0))]  # ">*" matches nothing
    if op == ">=" or patch is not None:
        return [Comparator(op, (major, minor or 0, patch or 0))]
    # ">1" is ">=2.0.0", ">1.2" is ">=1.3.0".
    bumped = (major + 1, 0, 0) if minor is None else (major, minor + 1, 0)
    return [Comparator(">=", bumped)]


def _upper(p: Partial, op: str) -> list[Comparator]:
    """``<= p`` or ``< p`` for a partial version."""
    major, minor, patch = p
    if major is None:
        return [] if op == "<=" else [Comparator("<", (0, 0, 0))]
    if op == "<" or patch is not None:
        return [Comparator(op, (major, minor or 0, patch or 0))]
    # "<=1" is "<2.0.0", "<=1.2" is "<1.3.0".
    bumped = (major + 1, 0, 0) if minor is None else (major, minor + 1, 0)
    return [Comparator("<", bumped)]


def _tilde(p: Partial) -> list[Comparator]:
    major, minor, patch = p
    if major is None:
        return []
    if minor is None:
        return [Comparator(">=", (major, 0, 0)), Comparator("<", (major + 1, 0, 0))]
    return [Comparator(">=", (major, minor, patch or 0)), Comparator("<", (major, minor + 1, 0))]


def _caret(p: Partial) -> list[Comparator]:
    major, minor, patch = p
    if major is None:
        return []
    low = Comparator(">=", (major, minor or 0, patch or 0))
    if major > 0 or minor is None:
        return [low, Comparator("<", (major + 1, 0, 0))]
    if minor > 0 or patch is None:
        return [low, Comparator("<", (0, minor + 1, 0))]
    return [low, Comparator("<", (0, 0, patch + 1))]
