"""npm semver ranges, as engines.node uses them."""

from __future__ import annotations

import pytest

from cove.domain import semver

VERSIONS = ["18.20.4", "20.9.0", "20.18.1", "22.1.0", "22.20.0", "24.0.0", "24.19.0"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.x", "20.18.1"),
        ("20", "20.18.1"),
        ("v20.9", "20.9.0"),
        ("20.9.0", "20.9.0"),
        ("=22.1.0", "22.1.0"),
        ("^20.9", "20.18.1"),
        ("~20.9.0", "20.9.0"),
        ("~20", "20.18.1"),
        (">=18 <21", "20.18.1"),
        (">= 18 < 21", "20.18.1"),
        (">20", "24.19.0"),
        (">22.20", "24.19.0"),
        ("<=22", "22.20.0"),
        ("<22", "20.18.1"),
        ("18 || 20", "20.18.1"),
        ("16.x || 18.x", "18.20.4"),
        ("18.0.0 - 20.10", "20.9.0"),
        ("18 - 20", "20.18.1"),
        ("*", "24.19.0"),
        ("", "24.19.0"),
        ("22.x.5", "22.20.0"),  # nothing after a wildcard counts
    ],
)
def test_max_satisfying(text: str, expected: str) -> None:
    assert semver.max_satisfying(VERSIONS, text) == expected


def test_caret_below_one_stays_in_its_minor() -> None:
    versions = ["0.2.3", "0.2.9", "0.3.0", "0.0.3", "0.0.4"]
    assert semver.max_satisfying(versions, "^0.2.3") == "0.2.9"
    assert semver.max_satisfying(versions, "^0.0.3") == "0.0.3"
    assert semver.max_satisfying(versions, "^0.x") == "0.3.0"


def test_nothing_matches() -> None:
    assert semver.max_satisfying(VERSIONS, "19.x") is None
    assert semver.max_satisfying(VERSIONS, ">24.19.0") is None


def test_pre_releases_and_junk_versions_are_never_picked() -> None:
    assert semver.max_satisfying(["26.0.0rc0", "24.1.0", "nightly"], "*") == "24.1.0"


@pytest.mark.parametrize("text", ["lts", "20.x.y.z", ">=abc", "^", "1.2.3.4", "x" * 300])
def test_invalid_ranges(text: str) -> None:
    with pytest.raises(semver.InvalidRange):
        semver.parse(text)


@pytest.mark.parametrize(
    ("text", "unbounded"),
    [(">=18", True), ("*", True), ("20.x", False), (">=18 <21", False), ("20 || >=22", True)],
)
def test_unbounded(text: str, unbounded: bool) -> None:
    assert semver.parse(text).unbounded is unbounded
