"""The dashboard's metrics: the recorder's aggregates (percentiles, status classes, error
codes, memory, windows stamped by minute), and the store side (flush, read back as plot
points, a day's retention)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest

from cove.domain.dyno_sizes import MB
from cove.dynos.backend import DynoSpec
from cove.dynos.manager import DynoManager, _Running
from cove.logs import LogRouter
from cove.metrics import Recorder, history
from cove.metrics.flusher import Flusher
from cove.metrics.latency import BOUNDS, bucket, percentile
from cove.services import accounts, apps
from cove.settings import Settings
from cove.store import Store
from cove.store.models import AppMetric

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True

T0 = 1_800_000_000.0 // 60 * 60  # a whole minute (Unix seconds)
MINUTE = int(T0 // 60)


def recorder(now: float = T0) -> Recorder:
    return Recorder({"web-app": "id-1", "other": "id-2"}, now)


def test_percentiles_from_known_response_times() -> None:
    rec = recorder()
    for ms in range(1, 101):  # 1..100 ms, in a shuffled order
        rec.request("web-app", 200, ((ms * 37) % 100 + 1) / 1000, None)
    (point,) = rec.roll(T0 + 60)
    assert sum(point.latency.values()) == 100
    assert [percentile(point.latency, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]


def test_slow_times_are_kept_to_two_significant_digits() -> None:
    assert BOUNDS[bucket(0.0004)] == 0
    assert BOUNDS[bucket(0.0426)] == 43  # rounded to the ms, as the router's log line
    assert BOUNDS[bucket(0.1234)] == 120
    assert BOUNDS[bucket(1.234)] == 1200
    assert BOUNDS[bucket(30.0)] == 30_000
    assert BOUNDS[bucket(500.0)] == 100_000  # beyond 100 s: one bucket
    histogram = {bucket(0.010): 90, bucket(2.5): 10}
    assert percentile(histogram, 50) == 10
    assert percentile(histogram, 90) == 10
    assert percentile(histogram, 91) == 2500
    assert percentile({}, 50) is None


def test_status_classes_error_codes_and_unknown_apps() -> None:
    rec = recorder()
    for status in (200, 201, 204, 301, 304, 404, 404, 429, 503, 101):
        rec.request("web-app", status, 0.005, None)
    rec.request("web-app", 503, None, "H14")  # no dyno tried: no response time
    rec.request("web-app", 503, 30.0, "H12")
    rec.request("web-app", 0, None, "H27")  # nothing answered
    rec.request("gone-app", 200, 0.001, None)  # not (or no longer) an app: ignored
    (point,) = rec.roll(T0 + 60)
    assert point.app_id == "id-1"
    assert point.statuses == [1, 1, 3, 2, 3, 3]  # other, 1xx, 2xx, 3xx, 4xx, 5xx
    assert point.errors == {"H14": 1, "H12": 1, "H27": 1}
    assert sum(point.latency.values()) == 11


def test_windows_are_stamped_with_their_minute_and_start_empty() -> None:
    rec = recorder()
    rec.request("web-app", 200, 0.01, None)
    rec.request("other", 404, 0.01, None)
    first = rec.roll(T0 + 60)
    assert {(p.app_id, p.minute) for p in first} == {("id-1", MINUTE), ("id-2", MINUTE)}
    assert rec.roll(T0 + 120) == []  # nothing happened in the next minute
    rec.request("web-app", 500, 0.01, None)
    (late,) = rec.roll(T0 + 180.2)  # a flush a little late still names its own minute
    assert late.minute == MINUTE + 2
    assert late.statuses[5] == 1


def test_memory_per_dyno_and_r_errors() -> None:
    rec = recorder()
    rec.memory("id-1", "web.1", 100)
    rec.memory("id-1", "web.1", 300)
    rec.memory("id-1", "worker.1", 50)
    rec.dyno_error("id-1", "R14")
    rec.dyno_error("id-1", "R14")
    rec.dyno_error("id-1", "R15")
    (point,) = rec.roll(T0 + 60)
    assert point.memory == {"web.1": [2, 400, 300], "worker.1": [1, 50, 50]}
    assert point.errors == {"R14": 2, "R15": 1}


# -- the store side ---------------------------------------------------------------------


@pytest.fixture
def app_id(store: Store) -> str:
    owner = accounts.create_account(store, "m@example.com", "a-password-123")
    return apps.create(store, owner.id, "web-app").id


def record(store: Store, app_id: str, at: float, *statuses: int) -> None:
    rec = Recorder({"web-app": app_id}, at)
    for status in statuses:
        rec.request("web-app", status, 0.020, "H12" if status == 503 else None)
    rec.memory(app_id, "web.1", 64 * 1024 * 1024)
    history.save(store, rec.roll(at + 60), at + 60)


def test_saved_windows_come_back_as_points_of_the_last_hour(store: Store, app_id: str) -> None:
    record(store, app_id, T0, 200, 200, 404)
    record(store, app_id, T0, 503)  # the same minute again (a restart): added up
    record(store, app_id, T0 + 30 * 60, 302)
    now = T0 + 59 * 60 + 5
    data = history.series(store, app_id, history.RANGES["1h"], now)
    assert len(data.points) == 60
    assert data.points[-1].minute == MINUTE + 59  # the minute in progress is the last point
    first = data.points[0]
    assert first.minute == MINUTE
    assert first.statuses[2:] == [2, 0, 1, 1]
    assert first.errors == {"H12": 1}
    assert first.memory == {"web.1": [2, 128 * 1024 * 1024, 64 * 1024 * 1024]}
    assert data.points[30].statuses[3] == 1
    assert data.requests == 5
    assert data.percentile(50) == 20
    assert data.dynos == ["web.1"]
    assert data.error_codes == ["H12"]


def test_the_day_has_a_point_per_ten_minutes(store: Store, app_id: str) -> None:
    for offset in (0, 3, 9, 10):
        record(store, app_id, T0 + offset * 60, 200)
    now = T0 + 12 * 60
    data = history.series(store, app_id, history.RANGES["24h"], now)
    assert len(data.points) == 144
    assert all(p.minute % 10 == 0 for p in data.points)
    by_minute = {p.minute: sum(p.statuses) for p in data.points if sum(p.statuses)}
    start = MINUTE // 10 * 10
    assert by_minute == (
        {start: 3, start + 10: 1} if MINUTE % 10 == 0 else {start: 2, start + 10: 2}
    )


def test_rows_older_than_a_day_are_pruned_at_each_save(store: Store, app_id: str) -> None:
    record(store, app_id, T0, 200)
    record(store, app_id, T0 + 60, 200)
    with store.session() as s:
        assert s.query(AppMetric).count() == 2
    day = history.RETENTION_MINUTES * 60
    history.save(store, [], T0 + day + 90)  # T0's minute is now more than a day old
    with store.session() as s:
        assert [row.minute for row in s.query(AppMetric)] == [MINUTE + 1]
    history.save(store, [], T0 + day + 150)
    with store.session() as s:
        assert s.query(AppMetric).count() == 0


def test_a_deleted_apps_window_is_dropped(store: Store, app_id: str) -> None:
    rec = Recorder({"web-app": app_id}, T0)
    rec.request("web-app", 200, 0.01, None)
    rec.dyno_error("no-such-app", "R10")
    history.save(store, rec.roll(T0 + 60), T0 + 60)
    with store.session() as s:
        assert [row.app_id for row in s.query(AppMetric)] == [app_id]


def test_flusher_writes_the_window_and_starts_a_new_one(store: Store, app_id: str) -> None:
    now = [T0 + 30]
    rec = Recorder({"web-app": app_id}, T0)
    flusher = Flusher(rec, store, 60, clock=lambda: now[0])
    rec.request("web-app", 404, 0.01, None)
    asyncio.run(flusher.flush())
    now[0] = T0 + 60
    asyncio.run(flusher.flush())  # an empty window: no row
    with store.session() as s:
        rows = [(r.minute, r.statuses) for r in s.query(AppMetric)]
    assert rows == [(MINUTE, [0, 0, 0, 0, 1, 0])]


def test_a_failing_store_loses_one_window_not_the_server(
    store: Store, app_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder({"web-app": app_id}, T0)
    broken = Store("sqlite:////nonexistent-dir/cove.db")
    rec.request("web-app", 200, 0.01, None)
    with caplog.at_level(logging.ERROR):
        asyncio.run(Flusher(rec, broken, 60, clock=lambda: T0 + 60).flush())
    assert "writing metrics failed" in caplog.text
    assert rec.roll(T0 + 120) == []  # the next window starts empty


class _FakeHandle:
    """A running dyno whose memory is over its quota (R14), for the dyno manager's check."""

    def __init__(self, spec: DynoSpec, used: int) -> None:
        self.spec, self.used = spec, used

    def memory_usage(self) -> int:
        return self.used

    def oom_kills(self) -> int:
        return 0

    def has_exited(self) -> bool:
        return False

    def kill(self) -> None:
        raise AssertionError("R14 doesn't kill")


def test_the_dyno_managers_memory_checks_feed_memory_and_r14(tmp_path: Path, store: Store) -> None:
    rec = Recorder({}, T0)
    settings = dataclasses.replace(Settings(home=tmp_path), memory_check_interval=0.001)
    manager = DynoManager(settings, store, None, LogRouter(), rec)  # type: ignore[arg-type]
    spec = DynoSpec(
        "d1", "id-1", "web-app", "web.1", "web", "x", "standard-1x", 1, "r", tmp_path, {}
    )
    used = 600 * MB  # standard-1x: 512 MB
    manager._running["d1"] = _Running(_FakeHandle(spec, used), state="up")  # type: ignore[arg-type]

    async def checks() -> None:
        task = asyncio.create_task(manager._memory_loop())
        async with asyncio.timeout(10):
            while rec._apps.get("id-1") is None or not rec._apps["id-1"].errors:
                await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(checks())
    (point,) = rec.roll(T0 + 60)
    samples, total, peak = point.memory["web.1"]
    assert samples >= 1 and total == samples * used and peak == used
    assert point.errors["R14"] >= 1


def test_destroying_the_app_removes_its_metrics(store: Store, app_id: str) -> None:
    record(store, app_id, T0, 200)
    apps.destroy(store, "web-app")
    with store.session() as s:
        assert s.query(AppMetric).count() == 0


def test_a_flush_interval_below_a_second_is_a_second(store: Store) -> None:
    assert Flusher(Recorder({}, T0), store, 0).interval == 1.0
    assert Flusher(Recorder({}, T0), store, -5).interval == 1.0
