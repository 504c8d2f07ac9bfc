"""What bounds the cost of one app's logs: a line budget (a token bucket) and the count of
lines dropped beyond it, reported the way Logplex reports its own drops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


class LineBudget:
    """``rate`` lines a second on average, up to ``burst`` at once (a token bucket)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated: float | None = None

    def available(self, now: float) -> int:
        """Lines that may pass at ``now`` (a monotonic clock, in seconds)."""
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return max(0, int(self._tokens))

    def spend(self, lines: int) -> None:
        self._tokens -= lines


@dataclass
class Drops:
    """Lines dropped since the last notice about them."""

    count: int = 0
    since: datetime | None = None

    def add(self, count: int, moment: datetime | None = None) -> bool:
        """Count ``count`` more; True if they start a new run of drops (none pending)."""
        started = self.count == 0
        if started:
            self.since = moment or datetime.now(UTC)
        self.count += count
        return started

    def take(self) -> tuple[int, datetime] | None:
        """The pending (count, first drop time), now reported; None if nothing was dropped."""
        if not self.count or self.since is None:
            return None
        taken = (self.count, self.since)
        self.count, self.since = 0, None
        return taken


def _since(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def overflow_notice(count: int, since: datetime) -> str:
    """Logplex's L10, for lines an app wrote faster than its log takes them."""
    return f"Error L10 (output buffer overflow): {count} messages dropped since {_since(since)}."


def tail_overflow_notice(count: int, since: datetime) -> str:
    """Logplex's L11, for lines a tail session could not keep up with."""
    return (
        f"L11 (Tail buffer overflow) -> This tail session dropped {count} messages since "
        f"{_since(since)}"
    )
