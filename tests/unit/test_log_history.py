"""The saved log history (cove.logs.history) on a real directory, and where `cove logs
--tail` resumes after reconnecting (cove.cli.logs)."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.cli import logs as cli_logs
from cove.cli.logs import Resume, _Printer, tail_through_restarts
from cove.cli.output import CliError
from cove.client import ApiConnectionError, ApiError
from cove.client.types import LogSession
from cove.logs import LogFilter, LogRouter
from cove.logs import history as history_module
from cove.logs.history import LogHistory

APP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
OTHER = "11111111-2222-3333-4444-555555555555"


def line(n: int) -> str:
    return f"2026-01-01T00:00:00.{n:06d}+00:00 app[web.1]: line {n}"


def saved(history: LogHistory, app_id: str = APP, keep: int | None = None) -> list[str]:
    """What a restart would load (a fresh reader of the same directory)."""
    reader = LogHistory(history.directory, keep or history.keep)
    return reader.load({app_id}).get(app_id, [])


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_lines_written_are_loaded_again_in_order(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1), line(2)])
    history.write(APP, ['a message with\na newline, "quotes" and \udcff'])
    history.flush()
    assert saved(history) == [line(1), line(2), 'a message with\na newline, "quotes" and \udcff']


def test_files_and_directory_are_private(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1)])
    history.flush()
    assert stat.S_IMODE(history.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(history.path(APP).stat().st_mode) == 0o600


def test_a_file_is_trimmed_to_the_newest_lines_once_it_holds_twice_as_many(
    tmp_path: Path,
) -> None:
    history = LogHistory(tmp_path / "logs", keep=10)
    history.load(set())
    for n in range(25):
        history.write(APP, [line(n)])
        history.flush()
        # Never more than twice the window on disk.
        assert len(history.path(APP).read_bytes().splitlines()) <= 20
    assert saved(history) == [line(n) for n in range(15, 25)]


def test_a_trim_that_fails_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lines that go over twice the window are added by the rewrite itself, not appended
    # first: a crash or a full disk while trimming never leaves more than that on disk.
    history = LogHistory(tmp_path / "logs", keep=10)
    history.load(set())
    for tens in (0, 10):
        history.write(APP, [line(n) for n in range(tens, tens + 10)])
        history.flush()

    def full_disk(_path: Path, _lines: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(history_module, "rewrite", full_disk)
    history.write(APP, [line(20)])
    history.flush()
    assert saved(history, keep=20) == [line(n) for n in range(20)]


def test_lines_waiting_for_the_writer_are_bounded(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs", keep=10)
    history.load(set())
    for n in range(1000):
        history.write(APP, [line(n)])
    assert len(history._pending[APP]) == 10  # the oldest were dropped while queued
    history.flush()
    assert saved(history) == [line(n) for n in range(990, 1000)]


def test_a_flood_between_two_writes_keeps_the_newest_lines(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs", keep=10)
    history.load(set())
    history.write(APP, [line(n) for n in range(1000)])
    history.flush()
    assert len(history.path(APP).read_bytes().splitlines()) == 10
    assert saved(history) == [line(n) for n in range(990, 1000)]


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1), line(2)])
    history.flush()
    with history.path(APP).open("ab") as f:
        f.write(json.dumps(line(3)).encode()[:20])  # a crash in the middle of a write

    again = LogHistory(history.directory)
    assert again.load({APP}) == {APP: [line(1), line(2)]}
    # The file was rewritten without the torn piece: the next line appends cleanly.
    again.write(APP, [line(4)])
    again.flush()
    assert saved(again) == [line(1), line(2), line(4)]


def test_a_file_over_the_window_is_cut_to_it_at_load(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    (directory / f"{APP}.log").write_text("".join(json.dumps(line(n)) + "\n" for n in range(30)))
    assert LogHistory(directory, keep=10).load({APP}) == {APP: [line(n) for n in range(20, 30)]}
    assert len((directory / f"{APP}.log").read_text().splitlines()) == 10


def test_a_failed_append_costs_its_own_lines_not_the_next_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1)])
    history.flush()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[:10]))  # part of a line reaches the file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(history_module.os, "write", half_then_full)
    history.write(APP, [line(2)])
    history.flush()  # logged, not raised
    monkeypatch.setattr(history_module.os, "write", real_write)
    history.write(APP, [line(3)])
    history.flush()
    assert saved(history) == [line(1), line(3)]
    assert history.path(APP).read_bytes().endswith(b"\n")


def test_an_unreadable_entry_is_skipped_at_load(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    (directory / f"{OTHER}.log").mkdir(parents=True)  # a directory where a file should be
    (directory / "junk").mkdir()
    (directory / f"{APP}.log").write_text(json.dumps(line(1)) + "\n")
    assert LogHistory(directory).load({APP, OTHER}) == {APP: [line(1)]}


def test_an_unusable_directory_at_load_costs_the_history_not_the_server(
    tmp_path: Path,
) -> None:
    (tmp_path / "logs").write_text("not a directory")
    assert LogHistory(tmp_path / "logs").load({APP}) == {}


def test_files_of_apps_that_no_longer_exist_are_removed_at_load(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1)])
    history.write(OTHER, [line(2)])
    history.flush()
    (history.directory / f"{APP}.log.tmp").write_text("left by a crash mid-rewrite")

    assert LogHistory(history.directory).load({APP}) == {APP: [line(1)]}
    assert sorted(p.name for p in history.directory.iterdir()) == [f"{APP}.log"]


def test_a_forgotten_app_loses_its_file_and_saves_nothing_more(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.write(APP, [line(1)])
    history.flush()
    history.write(APP, [line(2)])  # queued, not yet written
    history.forget(APP)
    history.write(APP, [line(3)])  # a destroyed app's dyno saying it stopped
    history.flush()
    assert not history.path(APP).exists()


def test_the_writer_thread_saves_lines_and_close_flushes_the_rest(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs", interval=3600)  # the thread writes once, then waits
    history.load(set())
    history.start()
    history.write(APP, [line(1)])
    history.write(APP, [line(2)])
    history.close()
    assert saved(history) == [line(1), line(2)]


def test_the_writer_thread_saves_lines_without_a_clean_shutdown(tmp_path: Path) -> None:
    # What a kill -9 finds on disk: lines are written within the interval, not at close.
    history = LogHistory(tmp_path / "logs", interval=0.01)
    history.load(set())
    history.start()
    try:
        for newest in ([line(1)], [line(2)], [line(3)]):
            history.write(APP, newest)
            wait_until(lambda: saved(history)[-1:] == newest)  # noqa: B023 (called at once)
    finally:
        history.close()


def test_lines_written_while_the_writer_is_busy_are_saved_without_a_shutdown(
    tmp_path: Path,
) -> None:
    """Only a write that finds nothing queued wakes the writer: the lines queued behind it,
    and those that come while it writes, still reach the disk without a close."""
    history = LogHistory(tmp_path / "logs", interval=0.01)
    history.load(set())
    history.start()
    try:
        written = [line(n) for n in range(200)]
        for one in written:
            history.write(APP, [one])
        wait_until(lambda: saved(history) == written)
        history.write(OTHER, [line(7)])  # after the writer emptied its queue: wakes it again
        wait_until(lambda: saved(history, OTHER) == [line(7)])
    finally:
        history.close()


def test_the_writer_thread_outlives_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = LogHistory(tmp_path / "logs", interval=0.01)
    history.load(set())
    real_append = history._append
    calls: list[str] = []

    def broken_once(app_id: str, lines: list[str]) -> None:
        calls.append(app_id)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        real_append(app_id, lines)

    monkeypatch.setattr(history, "_append", broken_once)
    history.start()
    try:
        history.write(APP, [line(1)])
        wait_until(lambda: len(calls) == 1)
        history.write(APP, [line(2)])
        wait_until(lambda: saved(history) == [line(2)])
    finally:
        history.close()


def test_an_unusable_directory_costs_the_history_not_the_caller(tmp_path: Path) -> None:
    history = LogHistory(tmp_path / "logs")
    history.load(set())
    history.directory.rmdir()
    history.directory.write_text("not a directory")
    history.write(APP, [line(1)])
    history.flush()  # logged, not raised


def test_an_app_id_is_never_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LogHistory(tmp_path).path("../escape")


def test_restored_lines_are_the_routers_recent_lines_and_reach_no_sink() -> None:
    router = LogRouter()
    sunk: list[str] = []
    router.add_sink(lambda _app, lines: sunk.extend(lines))
    router.restore(APP, [line(1), line(2)])
    router.append(APP, [line(3)])
    assert router.recent(APP, 1500, LogFilter()) == [line(1), line(2), line(3)]
    assert sunk == [line(3)]


def test_forgetting_an_app_tells_the_hooks() -> None:
    router = LogRouter()
    forgotten: list[str] = []
    router.on_forget(forgotten.append)
    router.append(APP, [line(1)])
    router.forget(APP)
    assert forgotten == [APP]
    assert router.recent(APP, 10, LogFilter()) == []


# -- `cove logs --tail` through a restart: what a new session repeats is skipped ---------


def resumed(printed: list[str], stream: list[str]) -> list[str]:
    resume = Resume(printed)
    return [new for line in stream for new in resume.feed(line)]


def test_a_new_session_skips_the_lines_already_printed() -> None:
    printed = [line(n) for n in range(5)]
    assert resumed(printed, [line(n) for n in range(2, 8)]) == [line(5), line(6), line(7)]


def test_identical_lines_from_one_read_are_told_apart_by_what_precedes_them() -> None:
    ok = "2026-01-01T00:00:00.000001+00:00 app[web.1]: ok"
    # Printed up to the first of two identical lines; the second is still to come.
    assert resumed([line(0), ok], [line(0), ok, ok, line(9)]) == [ok, line(9)]
    # Both were printed: neither again.
    assert resumed([ok, ok], [ok, ok, line(9)]) == [line(9)]


def test_lines_the_server_lost_fall_back_to_what_is_newer_than_the_last_printed() -> None:
    printed = [line(1), line(2), line(3)]
    # line 3 was lost in a crash; lines 1-2 are back, then a new line 4.
    assert resumed(printed, [line(1), line(2), line(4), line(5)]) == [line(4), line(5)]
    # Nothing printed was kept at all.
    assert resumed(printed, [line(4)]) == [line(4)]


def test_with_nothing_printed_every_line_is_new() -> None:
    assert resumed([], [line(1), line(2)]) == [line(1), line(2)]


def no_wait(_seconds: float) -> None:
    pass


class Outage:
    """A server that answers the first session, goes away for ``down`` attempts, then
    answers a second one with ``after`` (the history it kept, then new lines)."""

    def __init__(self, before: list[str], after: list[str], down: int) -> None:
        self.streams = [before, after]
        self.down = down
        self.asked: list[int] = []

    def open_session(self, lines: int) -> LogSession:
        self.asked.append(lines)
        if len(self.asked) > 1 and self.down:
            self.down -= 1
            raise ApiConnectionError("https://cove.test", "connection refused")
        return {"id": "s", "logplex_url": f"u{len(self.asked)}"}  # type: ignore[typeddict-item]

    def stream(self, url: str) -> Iterator[str]:
        lines = self.streams.pop(0) if self.streams else []
        yield from lines
        if not self.streams and not lines:
            raise KeyboardInterrupt  # the user stops the test's tail
        raise ApiConnectionError(url, "peer closed connection")


def test_a_tail_reconnects_after_an_outage_and_prints_no_line_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = [line(n) for n in range(3)]
    outage = Outage(before, [*before, line(3), line(4)], down=3)
    waits: list[float] = []
    printer = _Printer(None)
    with pytest.raises(KeyboardInterrupt):
        tail_through_restarts(outage.open_session, outage.stream, 100, printer, waits.append)
    out, err = capsys.readouterr()
    assert out.splitlines() == [line(n) for n in range(5)]
    assert outage.asked[0] == 100 and outage.asked[-2:] == [3, 5]
    assert err.count("reconnecting") == 2  # once per interruption, not per attempt
    assert waits[:4] == [0.1, 0.2, 0.4, 0.8]


def test_a_tail_gives_up_after_the_deadline_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_logs, "RECONNECT_FOR", 0.0)
    outage = Outage([line(1)], [], down=10**6)
    with pytest.raises(CliError, match=r"could not reconnect .*connection refused"):
        tail_through_restarts(outage.open_session, outage.stream, 100, _Printer(None), no_wait)


def test_a_tail_stops_on_an_answer_that_is_not_an_outage() -> None:
    def gone(lines: int) -> LogSession:
        raise ApiError(404, "not_found", "Couldn't find that app.")

    with pytest.raises(ApiError, match="find that app"):
        tail_through_restarts(gone, iter, 100, _Printer(None), no_wait)
