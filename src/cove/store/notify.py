"""PostgreSQL's LISTEN/NOTIFY between the processes sharing a store. A commit that wrote
events notifies ``CHANNEL`` (cove.store.db), and every process wakes its watchers at once,
instead of re-reading the event log on a timer. Other channels (the log relay,
cove.logs.relay) share the same listening connection: one per process, whatever listens."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

CHANNEL = "cove_events"
# How long a listener waits on its connection before looking at its stop flag and at
# channels registered meanwhile, and before trying again after losing the server
# (watchers re-read the log on a timer meanwhile).
POLL_SECONDS = 1.0
RETRY_SECONDS = 2.0


def libpq_url(engine_url: str) -> str:
    """The libpq URL of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return "postgresql://" + engine_url.split("://", 1)[1]


class Listener:
    """A daemon thread holding one connection that LISTENs on ``CHANNEL`` and calls
    ``wake`` for each notification (and after every reconnection: notifications sent
    while it was away are lost, the events are not). Channels added with ``add`` are
    listened on too, their handlers called on this thread with each payload."""

    def __init__(self, engine_url: str, wake: Callable[[], None]) -> None:
        self._url = libpq_url(engine_url)
        self._wake = wake
        self._handlers: dict[str, list[Callable[[str], None]]] = {CHANNEL: [lambda _: wake()]}
        self._lock = threading.Lock()  # guards _handlers (added to from any thread)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    def add(self, channel: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(payload)`` for each notification on ``channel``. Once started,
        the thread LISTENs on a new channel at its next poll (within POLL_SECONDS)."""
        with self._lock:
            self._handlers.setdefault(channel, []).append(handler)

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
                    listening: set[str] = set()
                    self._listen(conn, listening)
                    self._wake()  # anything committed before LISTEN took effect
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=POLL_SECONDS):
                            self._dispatch(n.channel, n.payload)
                        self._listen(conn, listening)
            except psycopg.Error as exc:
                # The message names the server and the error, never the password.
                log.warning("store notifications interrupted (%s); retrying", type(exc).__name__)
                self._stop.wait(RETRY_SECONDS)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]], listening: set[str]) -> None:
        """LISTEN on the channels this connection doesn't listen on yet. (Notifications
        that come in meanwhile wait in psycopg for the next ``notifies``.)"""
        with self._lock:
            new = [channel for channel in self._handlers if channel not in listening]
        for channel in new:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            listening.add(channel)

    def _dispatch(self, channel: str, payload: str) -> None:
        with self._lock:
            handlers = list(self._handlers.get(channel, ()))
        for handler in handlers:
            try:
                handler(payload)
            except Exception:
                log.exception("a handler of store notifications on %s failed", channel)
