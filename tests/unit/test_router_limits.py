"""Connection caps, the open files budget, the router's dyno connection pool bound, and the
pure parts of refusing malformed requests (H26 log line, two Host headers)."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from cove.limits import REPORT_EVERY, Budget, Caps, ConnectionCounter
from cove.router.headers import BadRequest, build_request_head
from cove.router.logline import H26, router_line
from cove.router.table import Backend
from cove.router.upstream import Pool


@pytest.mark.parametrize("open_files", [600, 1024, 4096, 20_000, 65_536, 1 << 20])
def test_budget_leaves_the_reserve_whatever_the_limit(open_files: int) -> None:
    budget = Budget.for_limit(open_files)
    reserve = max(256, open_files // 10)
    # Three descriptors a router client at worst (itself, its dyno connection, a pooled one).
    assert 3 * budget.router.total + budget.api.total + reserve <= open_files
    assert budget.router.per_address <= budget.router.total
    assert budget.api.per_address <= budget.api.total


def test_budget_figures() -> None:
    assert Budget.for_limit(1024) == Budget(router=Caps(234, 64), api=Caps(64, 32))
    assert Budget.for_limit(20_000) == Budget(router=Caps(5658, 707), api=Caps(1024, 32))
    # With a very high limit, memory is what bounds the router: 10,000 connections.
    assert Budget.for_limit(1 << 20) == Budget(router=Caps(10_000, 1250), api=Caps(1024, 32))


def test_settings_override_the_derived_caps() -> None:
    derived = Caps(234, 64)
    assert derived.override() == derived
    assert derived.override(total=1000) == Caps(1000, 64)
    assert derived.override(per_address=500) == Caps(234, 234)  # never above the total
    assert derived.override(2000, 500) == Caps(2000, 500)


def test_counter_caps_per_address_and_in_all() -> None:
    counter = ConnectionCounter("router", Caps(total=3, per_address=2))
    assert counter.admit("10.0.0.1") and counter.admit("10.0.0.1")
    assert not counter.admit("10.0.0.1")  # its address's cap
    assert counter.admit("10.0.0.2")
    assert not counter.admit("10.0.0.3")  # the total cap
    counter.release("10.0.0.2")
    assert counter.admit("10.0.0.3")  # a connection gone makes room
    assert counter.count == 3
    assert counter.by_address == {"10.0.0.1": 2, "10.0.0.3": 1}
    counter.release("10.0.0.9")  # never admitted: nothing to give back
    assert counter.count == 3


def test_refusals_are_reported_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    counter = ConnectionCounter("router", Caps(total=1, per_address=1))
    counter.admit("10.0.0.1")
    caplog.set_level(logging.WARNING, logger="cove.limits")
    counter.report(100.0)
    assert not caplog.records  # nothing refused, nothing said
    for _ in range(500):
        counter.admit("10.0.0.1")
    for _ in range(7):
        counter.admit("10.0.0.2")
    counter.report(101.0)
    counter.report(102.0)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == (
        "router: refused new connections: 500 from addresses already holding 1 "
        "(e.g. 10.0.0.1); 7 over 1 connections in all"
    )
    counter.admit("10.0.0.2")
    counter.report(101.0 + REPORT_EVERY - 0.1)
    assert len(caplog.records) == 1
    counter.report(101.0 + REPORT_EVERY)
    assert caplog.records[-1].getMessage().endswith(": 1 over 1 connections in all")


def test_open_files_limit_is_raised_to_the_hard_one() -> None:
    code = "from cove.limits import raise_open_files_limit as r, open_files_limit as o; "
    code += "print(r(), o())"
    out = subprocess.run(
        ["prlimit", "--nofile=256:2048", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["2048", "2048"]


# -- the pool's bound on idle dyno connections ------------------------------------------------


@dataclass
class FakeTransport:
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeConn:
    backend: Backend
    transport: FakeTransport = field(default_factory=FakeTransport)
    closed: bool = False
    idle_since: float = 0.0


def test_pool_keeps_at_most_max_idle_total_connections() -> None:
    pool = Pool(connect_timeout=1, max_idle=2, idle_timeout=30, clock=lambda: 0.0, max_idle_total=3)
    a, b = Backend("web.1", "127.0.0.1", 5001), Backend("web.2", "127.0.0.1", 5002)
    conns = [FakeConn(a), FakeConn(a), FakeConn(a), FakeConn(b), FakeConn(b)]
    for conn in conns:
        pool.release(conn)  # type: ignore[arg-type]
    # Two for web.1 (its own cap), one for web.2 (the total), the others closed.
    assert [c.transport.closed for c in conns] == [False, False, True, False, True]
    assert pool.idle_count == 3
    assert pool.take(a) is conns[1]
    pool.release(FakeConn(b))  # type: ignore[arg-type]  # room again
    assert pool.idle_count == 3
    pool.forget(conns[0])  # type: ignore[arg-type]  # (its connection was lost)
    assert pool.idle_count == 2


# -- malformed requests --------------------------------------------------------------------------


def test_two_host_headers_are_refused() -> None:
    headers = [(b"Host", b"a.localhost"), (b"host", b"b.localhost")]
    with pytest.raises(BadRequest) as refused:
        build_request_head(b"GET", b"/", headers, b"10.0.0.1", b"", 0, False)
    assert (refused.value.status, refused.value.cause) == (400, "bad header")


def test_h26_log_line_names_its_cause() -> None:
    line = router_line(
        H26, "GET", "/big", "a.localhost", "rid", "10.0.0.1", "", None, None, 431, None,
        cause="bad header",
    )  # fmt: skip
    assert line == (
        'at=error code=H26 desc="Request Error" cause="bad header" method=GET path="/big" '
        'host=a.localhost request_id=rid fwd="10.0.0.1" dyno= connect= service= status=431 '
        "bytes= protocol=http"
    )
