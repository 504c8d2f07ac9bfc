"""The output of one process (a dyno, a release command) on its way into its app's log:
raw chunks in, Heroku-format lines out, within the app's line budget.

The budget is applied before any per-line work (decoding, formatting, subscribers): lines
beyond it are counted and reported as dropped (L10), and the reader is told to pause
before reading more, so a flooding process waits on its own pipe instead of keeping
``cove server`` busy reading lines that are thrown away."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cove.domain.logline import timestamp
from cove.logs.lines import LineSplitter

if TYPE_CHECKING:
    from cove.logs.router import LogRouter

# While an app's lines are being dropped, each of its processes' output is read at most
# this fast: about 60 reads a second of a full pipe, a fraction of a percent of a core.
DROPPING_READ_BYTES_PER_SECOND = 8 * 1024 * 1024
# How much of a process's output is taken from its pipe at once.
READ_CHUNK = 256 * 1024


class ProcessOutput:
    def __init__(
        self,
        logs: LogRouter,
        app_id: str,
        dyno: str,
        tee: Callable[[str], None] | None = None,
    ) -> None:
        self._logs = logs
        self._app_id = app_id
        self._dyno = dyno
        self._source = f"app[{dyno}]"
        self._tee = tee  # also gets each message that reaches the log (release output)
        self._splitter = LineSplitter()

    def write(self, chunk: bytes) -> float:
        """Take ``chunk`` of the process's output; returns how long the reader should pause
        before reading more (0 unless lines were dropped)."""
        budget = self._logs.budget(self._app_id)
        lines, dropped = self._splitter.feed(chunk, budget.available(time.monotonic()))
        self._deliver(lines)
        if dropped:
            self._logs.dropped(self._app_id, dropped)
            return len(chunk) / DROPPING_READ_BYTES_PER_SECOND
        return 0.0

    def close(self) -> None:
        """The output has ended: its last line, if it had no newline, goes too."""
        last = self._splitter.flush()
        if last is None:
            return
        if self._logs.budget(self._app_id).available(time.monotonic()):
            self._deliver([last])
        else:
            self._logs.dropped(self._app_id, 1)

    def platform_error(self, detail: str) -> None:
        """Heroku's R99 about this process, from whoever runs it (never dropped)."""
        self._logs.publish(
            self._app_id, "heroku", self._dyno, f"Error R99 (Platform error) -> {detail}"
        )
        self._logs.publish(self._app_id, "heroku", self._dyno, "Stopping process with SIGKILL")

    def _deliver(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._logs.budget(self._app_id).spend(len(lines))
        # Lines read together arrived together: one timestamp for the chunk.
        prefix = f"{timestamp()} {self._source}: "
        messages = [raw.decode(errors="replace").rstrip("\r") for raw in lines]
        if self._tee is not None:
            for message in messages:
                self._tee(message)
        self._logs.append(self._app_id, [prefix + message for message in messages])
