"""A response-time histogram whose percentiles are exact to two significant digits.

Buckets are whole milliseconds below 100 ms (the router's log line shows whole
milliseconds), then 10 ms wide to 1 s, 100 ms wide to 10 s and 1 s wide to 100 s; one
bucket holds everything slower. Histograms of several minutes add up bucket by bucket, so
the percentiles of an hour or a day are computed from all of its requests, not averaged
from per-minute percentiles (which would be wrong)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping

# Each bucket's lower bound, in milliseconds.
BOUNDS: tuple[int, ...] = (
    *range(0, 100),
    *range(100, 1000, 10),
    *range(1000, 10_000, 100),
    *range(10_000, 100_000, 1000),
    100_000,
)


def bucket(seconds: float) -> int:
    """The bucket of a response time (rounded to the millisecond, as the log line is)."""
    return bisect_right(BOUNDS, seconds * 1000 + 0.5) - 1


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            total[index] = total.get(index, 0) + count
    return total


def percentile(histogram: Mapping[int, int], p: float) -> int | None:
    """The ``p``-th percentile in ms (nearest rank: the smallest time that at least ``p``%
    of requests took no longer than), as its bucket's lower bound; None without requests."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return BOUNDS[index]
    return BOUNDS[max(histogram)]  # (unreachable: seen reaches n)
