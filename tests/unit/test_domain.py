from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cove.domain import formation, logline
from cove.domain.config_vars import apply_changes, describe_changes, validate_changes
from cove.domain.errors import InvalidParams
from cove.domain.logline import format_line, split_long
from cove.domain.names import random_app_name, validate_app_name
from cove.domain.procfile import ProcfileError, parse_procfile


def test_procfile_parses_types_comments_and_last_duplicate_wins() -> None:
    text = "# comment\nweb: gunicorn app:app --log-file -\n\nworker:python w.py\nweb: gunicorn x\n"
    assert parse_procfile(text) == {"web": "gunicorn x", "worker": "python w.py"}


@pytest.mark.parametrize("line", ["web gunicorn app:app", "web:", "we b: x", ": cmd"])
def test_malformed_procfile_line_names_the_line(line: str) -> None:
    with pytest.raises(ProcfileError, match="line 2"):
        parse_procfile(f"worker: ok\n{line}\n")


@pytest.mark.parametrize("name", ["abc", "my-app-1", "a" * 30])
def test_valid_app_names(name: str) -> None:
    assert validate_app_name(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 31, "1abc", "Abc", "abc-", "a_bc", "-abc"])
def test_invalid_app_names(name: str) -> None:
    with pytest.raises(InvalidParams):
        validate_app_name(name)


def test_random_names_follow_the_rule() -> None:
    for _ in range(200):
        name = random_app_name()
        assert re.fullmatch(r"[a-z]+-[a-z]+-\d{4}", name)
        validate_app_name(name)


def test_config_keys_and_values() -> None:
    assert validate_changes({"A_1": "x", "_B": None, "N": 3, "T": True}) == {
        "A_1": "x",
        "_B": None,
        "N": "3",
        "T": "true",
    }
    for bad in ("1A", "A-B", "A B", ""):
        with pytest.raises(InvalidParams):
            validate_changes({bad: "x"})
    with pytest.raises(InvalidParams):
        validate_changes({})
    with pytest.raises(InvalidParams):
        validate_changes({"A": {"nested": 1}})
    with pytest.raises(InvalidParams, match="must not contain a NUL character"):
        validate_changes({"A": "x\0y"})
    with pytest.raises(InvalidParams, match="A must be valid UTF-8 text"):
        validate_changes({"A": "half \ud800 a pair"})


def test_config_apply_and_size_limit() -> None:
    assert apply_changes({"A": "1", "B": "2"}, {"A": None, "C": "3"}) == {"B": "2", "C": "3"}
    with pytest.raises(InvalidParams, match="limit"):
        apply_changes({}, {"BIG": "x" * (64 * 1024)})
    assert describe_changes({"A": "1", "B": None}) == "Set A config vars and Remove B config vars"


def test_log_line_format_and_splitting() -> None:
    line = format_line("app", "web.1", "hello")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 app\[web\.1\]: hello", line)
    chunks = split_long("x" * 25000)
    assert [len(c) for c in chunks] == [10000, 10000, 5000]


def test_log_timestamps_follow_the_clock_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The date and time are kept for the current second: the next second, and an earlier
    one (the clock stepped back), are stamped anew, the same as strftime would."""
    for now in (1_796_000_000.25, 1_796_000_000.9999996, 1_796_000_001.0, 1_795_999_000.5):
        monkeypatch.setattr(logline.time, "time", lambda now=now: now)
        expected = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        assert logline.timestamp() == expected


def _desired(quantities: dict[str, int], version: int = 2, restarts: dict[str, int] | None = None):
    return formation.desired_dynos(
        "app",
        version,
        "slug",
        {"web": "gunicorn", "worker": "w", "release": "r"},
        quantities,
        restarts or {},
    )


def test_desired_dynos_skip_release_and_unknown_types() -> None:
    names = [d.name for d in _desired({"web": 2, "worker": 1, "release": 1, "clock": 1})]
    assert names == ["web.1", "web.2", "worker.1"]


def test_plan_starts_missing_and_stops_extra() -> None:
    desired = _desired({"web": 1})
    running = [formation.RunningDyno("x", "app", "web.2", desired[0].revision, True)]
    plan = formation.plan(desired, running)
    assert [d.name for d in plan.start] == ["web.1"]
    assert [d.id for d in plan.stop] == ["x"]


def test_plan_replaces_old_revision_only_once_the_new_one_is_up() -> None:
    old = _desired({"web": 1}, version=2)[0]
    new = _desired({"web": 1}, version=3)[0]
    stale = formation.RunningDyno("old", "app", "web.1", old.revision, True)
    plan = formation.plan([new], [stale])
    assert [d.revision for d in plan.start] == [new.revision] and plan.stop == ()
    starting = formation.RunningDyno("new", "app", "web.1", new.revision, False)
    assert formation.plan([new], [stale, starting]) == formation.Plan((), ())
    up = formation.RunningDyno("new", "app", "web.1", new.revision, True)
    assert [d.id for d in formation.plan([new], [stale, up]).stop] == ["old"]


def test_restart_counters_change_the_revision() -> None:
    base = _desired({"web": 2})
    by_type = _desired({"web": 2}, restarts={"web": 1})
    one = _desired({"web": 2}, restarts={"web.2": 1})
    assert all(a.revision != b.revision for a, b in zip(base, by_type, strict=True))
    assert one[0].revision == base[0].revision and one[1].revision != base[1].revision


def test_crash_cool_off_follows_herokus_schedule() -> None:
    from cove.dynos.manager import crash_delay

    minutes = [crash_delay(n, 1.0) / 60 for n in range(1, 9)]
    assert minutes == [0, 20, 40, 60, 180, 320, 320, 320]
    assert crash_delay(2, 0.005) == 6.0
