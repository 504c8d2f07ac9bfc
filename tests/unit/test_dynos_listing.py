"""What the dynos API lists while a dyno is replaced, and the hint for a dyno whose command
daemonized (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cove.dynos.manager import detached_hint
from cove.services.dynos import one_per_name
from cove.store import Dyno

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _dyno(id_: str, name: str, state: str, age: int) -> Dyno:
    return Dyno(
        id=id_,
        app_id="a",
        name=name,
        type=name.split(".")[0],
        command="c",
        state=state,
        release_version=1,
        revision="r",
        created_at=T0 + timedelta(seconds=age),
    )


def _listed(*dynos: Dyno) -> list[tuple[str, str]]:
    return [(d.id, d.state) for d in one_per_name(dynos)]


def test_a_name_is_listed_once_as_the_dyno_that_serves() -> None:
    # The successor is starting beside the old dyno: the old one still serves.
    assert _listed(_dyno("old", "web.1", "up", 0), _dyno("new", "web.1", "starting", 1)) == [
        ("old", "up")
    ]
    # Both up for a moment, then the old one stopping: the successor.
    assert _listed(_dyno("old", "web.1", "up", 0), _dyno("new", "web.1", "up", 1)) == [
        ("new", "up")
    ]
    assert _listed(_dyno("new", "web.1", "up", 1), _dyno("old", "web.1", "down", 0)) == [
        ("new", "up")
    ]
    # A successor that crashed while the old one serves: the old one (the router agrees).
    assert _listed(_dyno("old", "web.1", "up", 0), _dyno("new", "web.1", "crashed", 1)) == [
        ("old", "up")
    ]
    # None up (ps:stop, then a new start): the newest.
    assert _listed(_dyno("old", "web.1", "down", 0), _dyno("new", "web.1", "starting", 1)) == [
        ("new", "starting")
    ]


def test_other_names_are_all_listed_in_order() -> None:
    dynos = [
        _dyno("w1", "web.1", "up", 0),
        _dyno("w2", "web.2", "crashed", 0),
        _dyno("k1", "worker.1", "starting", 0),
    ]
    assert [d.id for d in one_per_name(dynos)] == ["w1", "w2", "k1"]


def test_detached_hint_counts_what_kept_running() -> None:
    assert "while 1 process it started kept running" in detached_hint(1)
    assert "while 3 processes it started kept running" in detached_hint(3)
    assert "must stay in the foreground" in detached_hint(1)
