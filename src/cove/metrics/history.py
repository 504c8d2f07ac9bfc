"""The store side: windows written as rows per app and minute, pruned after a day, and
read back as the points of a plot (one per minute for the last hour, one per 10 minutes
for the last day)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from cove.metrics.latency import merge, percentile
from cove.metrics.recorder import AppPoint
from cove.store import App, Store
from cove.store.models import AppMetric

RETENTION_MINUTES = 24 * 60  # minutes kept: the last day


@dataclass(frozen=True)
class Range:
    name: str  # "1h" | "24h"
    label: str
    minutes: int  # how far back
    step: int  # minutes per point


RANGES = {
    "1h": Range("1h", "Last hour", 60, 1),
    "24h": Range("24h", "Last 24 hours", RETENTION_MINUTES, 10),
}


def save(store: Store, points: Sequence[AppPoint], now: float) -> None:
    """Write a window's points (of apps that still exist) and drop rows older than a day."""
    oldest = int(now // 60) - RETENTION_MINUTES
    with store.session() as s:
        if points:
            live = set(s.scalars(select(App.id).where(App.id.in_({p.app_id for p in points}))))
            s.add_all(
                AppMetric(
                    app_id=p.app_id,
                    minute=p.minute,
                    statuses=p.statuses,
                    latency={str(i): n for i, n in p.latency.items()},
                    errors=p.errors,
                    memory=p.memory,
                )
                for p in points
                if p.app_id in live
            )
        s.execute(delete(AppMetric).where(AppMetric.minute < oldest))


@dataclass
class Point:
    """What one point of each plot shows: ``minute`` is its start (Unix time // 60)."""

    minute: int
    statuses: list[int] = field(default_factory=lambda: [0] * 6)
    latency: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    memory: dict[str, list[int]] = field(default_factory=dict)  # dyno -> [n, sum, max]

    def add(
        self,
        statuses: list[int],
        latency: dict[str, int],
        errors: dict[str, int],
        memory: dict[str, list[int]],
    ) -> None:
        """Add one stored row (its JSON columns) to this point."""
        for i, n in enumerate(statuses[:6]):
            self.statuses[i] += n
        mine = self.latency
        for key, n in latency.items():
            index = int(key)
            mine[index] = mine.get(index, 0) + n
        for code, n in errors.items():
            self.errors[code] = self.errors.get(code, 0) + n
        for dyno, (n, total, peak) in memory.items():
            stats = self.memory.setdefault(dyno, [0, 0, 0])
            stats[0] += n
            stats[1] += total
            stats[2] = max(stats[2], peak)

    def percentile(self, p: float) -> int | None:
        return percentile(self.latency, p)


@dataclass(frozen=True)
class Series:
    range: Range
    points: list[Point]  # oldest first, one per step, empty ones included

    @property
    def requests(self) -> int:
        return sum(sum(p.statuses) for p in self.points)

    @property
    def dynos(self) -> list[str]:
        return sorted({d for p in self.points for d in p.memory}, key=_dyno_order)

    @property
    def error_codes(self) -> list[str]:
        return sorted({c for p in self.points for c in p.errors})

    def percentile(self, p: float) -> int | None:
        """Over the whole range, from every request's time."""
        return percentile(merge(point.latency for point in self.points), p)


def _dyno_order(name: str) -> tuple[str, int]:
    kind, _, number = name.partition(".")
    return kind, int(number) if number.isdigit() else 0


def series(store: Store, app_id: str, range_: Range, now: float) -> Series:
    """The range's points, the last being the one in progress (what the store has of it)."""
    end = (int(now // 60) // range_.step + 1) * range_.step
    start = end - range_.minutes
    points = [Point(m) for m in range(start, end, range_.step)]
    with store.session() as s:
        rows = s.execute(  # (columns, not ORM objects: a day is 1,440 rows per app)
            select(
                AppMetric.minute,
                AppMetric.statuses,
                AppMetric.latency,
                AppMetric.errors,
                AppMetric.memory,
            ).where(AppMetric.app_id == app_id, AppMetric.minute >= start, AppMetric.minute < end)
        )
        for minute, *columns in rows:
            points[(minute - start) // range_.step].add(*columns)
    return Series(range_, points)
