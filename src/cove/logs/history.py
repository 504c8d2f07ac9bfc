"""Each app's log history (Logplex's 1500-line window) on disk, so it survives a restart.

One file per app under ``COVE_HOME/logs``, one JSON string per line: a message may hold
any character, and a line torn by a crash fails to parse and is left out. The event loop
only queues lines (``write``, a ``LogRouter`` sink); a writer thread appends them at most
``interval`` later, so a kill -9 loses at most that much. A file is rewritten with its
newest ``keep`` lines (atomically) when it would hold more than twice as many, so disk
stays bounded. So does memory: at most ``keep`` lines per app wait for the writer, the
oldest dropped first (a restart loads the file's last ``keep`` lines: the newest).
An unusable file or directory costs the history, never the server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from cove.logs.router import HISTORY

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.25  # seconds: how long a line may wait before it is on disk
SUFFIX = ".log"
_APP_ID = re.compile(r"[A-Za-z0-9-]+")


def _encode(lines: Collection[str]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def read_lines(path: Path, keep: int) -> tuple[list[str], bool]:
    """The newest ``keep`` lines saved in ``path``, and whether the file holds exactly
    those (nothing torn or unreadable, nothing more)."""
    chunks = path.read_bytes().split(b"\n")
    clean = chunks.pop() == b""  # a file ends with a newline unless its last line is torn
    lines: list[str] = []
    for chunk in chunks:
        try:
            line = json.loads(chunk)
        except ValueError:
            line = None
        if isinstance(line, str):
            lines.append(line)
        else:
            clean = False
    return lines[-keep:], clean and len(lines) <= keep


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def rewrite(path: Path, lines: Collection[str]) -> None:
    """Replace the file's content with ``lines`` in one step (a crash leaves old or new)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, _encode(lines))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class LogHistory:
    def __init__(self, directory: Path, keep: int = HISTORY, interval: float = FLUSH_INTERVAL):
        self.directory = directory
        self.keep = keep
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, deque[str]] = {}  # lines not yet written, per app
        self._removed: set[str] = set()  # forgotten apps whose files are still to go
        self._forgotten: set[str] = set()
        self._counts: dict[str, int] = {}  # lines in each file (the writer thread's)
        self._torn: set[str] = set()  # files a failed append may have left a piece in
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def path(self, app_id: str) -> Path:
        if not _APP_ID.fullmatch(app_id):
            raise ValueError(f"not an app id: {app_id!r}")
        return self.directory / f"{app_id}{SUFFIX}"

    def load(self, app_ids: Collection[str]) -> dict[str, list[str]]:
        """The saved lines of each app in ``app_ids``; files of any other app (destroyed
        while no server ran to remove them) and leftovers of a rewrite are removed, and a
        file with a torn line or more than ``keep`` lines is rewritten. Before ``start``."""
        saved: dict[str, list[str]] = {}
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # logs may hold secrets an app printed
            paths = list(self.directory.iterdir())
        except OSError as exc:
            self._failed(exc)
            return saved
        for path in paths:
            app_id = path.name.removesuffix(SUFFIX)
            try:
                if not path.name.endswith(SUFFIX) or app_id not in app_ids:
                    path.unlink(missing_ok=True)
                    continue
                lines, clean = read_lines(path, self.keep)
                if not clean:
                    rewrite(path, lines)
            except OSError as exc:
                self._failed(exc)  # e.g. a directory where a file should be: left alone
                continue
            self._counts[app_id] = len(lines)
            saved[app_id] = lines
        return saved

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-history", daemon=True)
        self._thread.start()

    def write(self, app_id: str, lines: list[str]) -> None:
        """Queue lines appended to an app's log (a ``LogRouter`` sink: never blocks)."""
        with self._lock:
            if app_id in self._forgotten:
                return  # a destroyed app's dynos may still say they stopped
            # Only the write that finds the queue empty wakes the writer: the writer
            # clears its wake-up before taking the queue, so later writes are in its
            # batch or find the queue empty again. (Setting an Event costs a lock and a
            # notify: with one line per request, that showed in the router's profile.)
            wake = not self._pending
            pending = self._pending.get(app_id)
            if pending is None:
                pending = self._pending[app_id] = deque(maxlen=self.keep)
            pending.extend(lines)
        if wake:
            self._wake.set()

    def forget(self, app_id: str) -> None:
        """The app is destroyed: its file goes, and nothing more is saved for it."""
        with self._lock:
            self._forgotten.add(app_id)
            self._pending.pop(app_id, None)
            self._removed.add(app_id)
        self._wake.set()

    def close(self) -> None:
        """Write what is queued and stop the writer (a clean shutdown loses nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a bug must not end the thread: later lines are saved
                log.exception("saving log history failed")
            self._stop.wait(self.interval)  # what arrives meanwhile goes in one write

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
            removed, self._removed = self._removed, set()
        for app_id, lines in batch.items():
            self._attempt(self._append, app_id, lines)
        for app_id in removed:
            self._attempt(self._remove, app_id)

    def _attempt(self, step: Callable[..., None], *args: Any) -> None:
        """A full disk or a broken directory costs the history, never the server."""
        try:
            step(*args)
        except OSError as exc:
            self._failed(exc)
        else:
            self._failing = False

    def _failed(self, exc: OSError) -> None:
        if not self._failing:  # once until it works again, not once per line
            log.warning("could not save log history in %s: %s", self.directory, exc)
        self._failing = True

    def _remove(self, app_id: str) -> None:
        self.path(app_id).unlink(missing_ok=True)
        self._counts.pop(app_id, None)
        self._torn.discard(app_id)

    def _saved(self, path: Path) -> list[str]:
        try:
            return read_lines(path, self.keep)[0]
        except FileNotFoundError:
            return []

    def _append(self, app_id: str, lines: Collection[str]) -> None:
        path = self.path(app_id)
        count = self._counts.get(app_id, 0) + len(lines)
        # Trimmed in the same step as the lines are added: never more than twice on disk.
        # After a failed append, the piece it may have left would swallow the next line.
        if count > 2 * self.keep or app_id in self._torn:
            kept = self._saved(path) if len(lines) < self.keep else []
            newest = [*kept, *lines][-self.keep :]
            rewrite(path, newest)
            self._counts[app_id] = len(newest)
            self._torn.discard(app_id)
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, _encode(lines))
        except OSError:
            self._torn.add(app_id)
            raise
        finally:
            os.close(fd)
        self._counts[app_id] = count
