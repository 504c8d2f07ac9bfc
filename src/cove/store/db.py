"""The store: a SQLAlchemy engine (SQLite by default, or PostgreSQL), Alembic migrations,
and the event log. Readers *list* current state, then *watch* events after the id they
started from. On PostgreSQL, also NOTIFY/LISTEN on other channels: the processes sharing
the store talk through it (cove.logs.relay)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from cove.store.models import Event
from cove.store.notify import CHANNEL, Listener
from cove.store.secrets import Keyring

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # (Alembic's)

# Readers in another process (a split-out router, say) get no in-process notification;
# on SQLite they fall back to re-reading the event log this often. (On PostgreSQL a
# commit's NOTIFY wakes them; this is then only the safety net.)
WATCH_FALLBACK_SECONDS = 2.0
# On PostgreSQL, writers of events take this transaction-scoped advisory lock just before
# their commit, so event ids become visible in the order they were handed out: a reader
# that has seen id N can never later find a smaller one ("events" in ASCII).
EVENTS_LOCK = 0x6576656E7473
MIGRATIONS_LOCK = 0x6D6967726174  # ("migrat"): servers starting at once migrate in turn


def revisions() -> list[str]:
    """This Cove's schema revisions, oldest first. Each migration's file is named after its
    revision (``NNNN_what.py``, revision ``NNNN``, down from ``NNNN - 1``), so the newest is
    known without loading Alembic; a unit test holds the files to that."""
    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _current_revision(conn: Connection) -> str | None:
    """The store's schema revision, as Alembic records it; None before the first migration."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def engine_url(url: str) -> str:
    """SQLAlchemy's URL for a store URL: PostgreSQL through psycopg 3, also when written
    ``postgres://`` or ``postgresql://`` (as Heroku and libpq write them)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


class SchemaTooNew(Exception):
    """The store was migrated by a newer Cove than this one."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        super().__init__(
            f"the store's schema is at revision {revision}, which this version of Cove "
            "doesn't know: it was written by a newer Cove. Run that version again (or "
            "restore a backup taken before the upgrade)."
        )


class NotOnPostgres(RuntimeError):
    """Notifications between processes need a PostgreSQL store."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Store.{what} needs a PostgreSQL store: a SQLite store is one process's own "
            "(set COVE_DATABASE_URL=postgresql://... to share one between processes)"
        )


class Store:
    def __init__(self, url: str, keyring: Keyring | None = None) -> None:
        """``keyring`` encrypts and decrypts the secret columns (cove.store.secrets); without
        one, a key made up for this Store only (tests, and tools that never read secrets)."""
        self.url = url
        self.keyring = keyring or Keyring.generate()
        self.postgres = engine_url(url).startswith("postgresql")
        connect_args: dict[str, Any] = (
            # Naive timestamps are UTC whatever the server's own time zone.
            {"options": "-c timezone=UTC"} if self.postgres else {"check_same_thread": False}
        )
        self.engine: Engine = create_engine(
            engine_url(url), connect_args=connect_args, pool_pre_ping=self.postgres
        )
        # Per engine, not global: the Encrypted* column types find it on the dialect.
        self.engine.dialect.cove_keyring = self.keyring  # type: ignore[attr-defined]
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_commit", _write_events)
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        # Commits of other processes sharing a PostgreSQL store wake this one's watchers.
        self._listener = Listener(engine_url(url), self._notify) if self.postgres else None

    def _alembic(self) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url)
        config.attributes["connection_url"] = engine_url(self.url)
        config.attributes["keyring"] = self.keyring  # for the migration that encrypts
        return config

    def migration_state(self) -> tuple[str | None, str]:
        """(the store's schema revision, None for a new store; this Cove's latest)."""
        known = revisions()
        with self.engine.connect() as conn:
            current = _current_revision(conn)
        if current is not None and current not in known:
            raise SchemaTooNew(current)
        return current, known[-1]

    def migrate(self) -> None:
        with self._migration_lock():
            # (Refuses a schema from a newer Cove before touching it.) Alembic, ~0.15 s of
            # imports, is loaded only when there is something to upgrade.
            current, head = self.migration_state()
            if current != head:
                from alembic import command

                command.upgrade(self._alembic(), "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """On PostgreSQL, servers starting together migrate one at a time (the others then
        find the schema up to date); a SQLite store has one server."""
        if not self.postgres:
            yield
            return
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATIONS_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATIONS_LOCK})

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error. Watchers are woken
        after a commit that wrote events."""
        session = self._sessions()
        try:
            yield session
            wrote_events = bool(session.info.get("events"))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if wrote_events:
            self._notify()

    @staticmethod
    def emit(session: Session, kind: str, app_id: str | None, **payload: Any) -> None:
        """Record an event in this transaction; it is written just before the commit (see
        ``_write_events``), and watchers are woken after it."""
        session.info.setdefault("events", []).append(
            Event(kind=kind, app_id=app_id, payload=payload)
        )

    def last_event_id(self) -> int:
        with self.session() as s:
            return s.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0

    def events_after(self, cursor: int, limit: int = 500) -> list[Event]:
        with self.session() as s:
            return list(
                s.scalars(select(Event).where(Event.id > cursor).order_by(Event.id).limit(limit))
            )

    async def watch(self, cursor: int) -> AsyncIterator[Event]:
        """Yield every event after ``cursor``, forever, in order."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        waiter = (loop, wake)
        with self._lock:
            self._waiters.add(waiter)
        if self._listener is not None:
            self._listener.start()
        try:
            while True:
                wake.clear()
                batch = await asyncio.to_thread(self.events_after, cursor)
                for ev in batch:
                    cursor = ev.id
                    yield ev
                if batch:
                    continue
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), WATCH_FALLBACK_SECONDS)
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def listen(self, channel: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(payload)``, on the store's listener thread, for each notification
        on ``channel`` from any process sharing the store (this one included). Takes effect
        within a second if the listener was already listening."""
        if self._listener is None:
            raise NotOnPostgres("listen")
        self._listener.add(channel, handler)
        self._listener.start()

    def notify(self, channel: str, payloads: Sequence[str]) -> None:
        """NOTIFY ``channel`` with each payload, in order, in one transaction (so listeners
        receive them together and in order). PostgreSQL delivers only one of identical
        payloads sent on a channel in one transaction: make them unique."""
        if not self.postgres:
            raise NotOnPostgres("notify")
        if not payloads:
            return
        with self.engine.begin() as conn:
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                [{"channel": channel, "payload": p} for p in payloads],
            )

    def _notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, wake in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        """Stop listening for other processes' commits and close every connection."""
        if self._listener is not None:
            self._listener.stop()
        self.engine.dispose()


def _write_events(session: Session) -> None:
    """Before a commit: the transaction's events, in the order they were emitted. On
    PostgreSQL, under EVENTS_LOCK (held until the commit ends) and with a NOTIFY that
    other processes' listeners receive once the commit is done."""
    events = session.info.get("events")
    if not events:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK})
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    session.add_all(events)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; synchronous=NORMAL is durable across an
    # application crash (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
