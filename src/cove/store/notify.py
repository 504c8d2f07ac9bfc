"""PostgreSQL's LISTEN/NOTIFY for the event log: a commit that wrote events notifies
``CHANNEL`` (cove.store.db), and every process sharing the store wakes its watchers at
once, instead of re-reading the event log on a timer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "cove_events"
# How long a listener waits on its connection before looking at its stop flag, and before
# trying again after losing the server (watchers re-read the log on a timer meanwhile).
POLL_SECONDS = 1.0
RETRY_SECONDS = 2.0


def libpq_url(engine_url: str) -> str:
    """The libpq URL of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return "postgresql://" + engine_url.split("://", 1)[1]


class Listener:
    """A daemon thread holding one connection that LISTENs on ``CHANNEL`` and calls
    ``wake`` for each notification (and after every reconnection: notifications sent
    while it was away are lost, the events are not)."""

    def __init__(self, engine_url: str, wake: Callable[[], None]) -> None:
        self._url = libpq_url(engine_url)
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cove-store-listener", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=POLL_SECONDS + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake()  # anything committed before LISTEN took effect
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=POLL_SECONDS):
                            self._wake()
            except psycopg.Error as exc:
                # The message names the server and the error, never the password.
                log.warning("store notifications interrupted (%s); retrying", type(exc).__name__)
                self._stop.wait(RETRY_SECONDS)
