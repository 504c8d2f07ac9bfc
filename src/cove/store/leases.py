"""Leases in the store: several ``cove server`` processes may share one store, but only one
of them may act as, say, the dyno manager at a time, or two would start the same dynos.
The one that may act holds a named lease, a row in ``leases`` that it renews well before it
expires; if it dies or loses the store, the row expires and another server takes it over.

Expiry is on the database's clock, never a host's, so hosts with skewed clocks agree on
it. Taking a lease is a single upsert that only overwrites an expired row (or our own), so
of several servers racing for it exactly one wins. A holder that cannot renew stops acting
after ttl/2 on its own clock, well before anybody else may take the lease over (ttl)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import ColumnElement, Float, delete, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from cove.store.db import Store, engine_url
from cove.store.models import Lease as LeaseRow

log = logging.getLogger("cove.leases")
T = TypeVar("T")

# Seconds since the epoch on the database's clock (clock_timestamp(), not now(): the time
# of the statement, not of the transaction's start).
_PG_NOW = "CAST(extract(epoch from clock_timestamp()) AS double precision)"
_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"


class Lease:
    """The lease ``name`` as seen by ``holder`` (unique per process, e.g. host and pid)."""

    def __init__(self, store: Store, name: str, holder: str, ttl: float = 15.0) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl
        # Local monotonic time just before the last statement that took or renewed the
        # lease was sent: the database's expiry is at least ttl after it.
        self._renewed_at: float | None = None
        # Its own thread: a renewal never queues behind other work in the default executor
        # (a busy server would otherwise lose its lease for want of a free thread).
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"cove-lease-{name}")

    def _in_thread(self, call: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._thread, call)

    def _db_now(self) -> ColumnElement[float]:
        return literal_column(_PG_NOW if self.store.postgres else _SQLITE_NOW, Float)

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or ours already (then extend it)."""
        now = self._db_now()
        insert = postgresql.insert if self.store.postgres else sqlite.insert
        stmt = insert(LeaseRow).values(
            name=self.name, holder=self.holder, expires_at=now + self.ttl
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[LeaseRow.name],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=or_(LeaseRow.expires_at < now, LeaseRow.holder == self.holder),
        ).returning(LeaseRow.holder)
        started = time.monotonic()
        with self.store.session() as s:
            # A row comes back only if it was inserted or updated, i.e. it is now ours.
            held = s.execute(upsert).scalar_one_or_none() == self.holder
        if held:
            self._renewed_at = started
        return held

    def renew(self) -> bool:
        """Extend the lease if we still hold it; False if it expired or was taken over."""
        now = self._db_now()
        stmt = (
            update(LeaseRow)
            .where(
                LeaseRow.name == self.name,
                LeaseRow.holder == self.holder,
                LeaseRow.expires_at >= now,
            )
            .values(expires_at=now + self.ttl)
        )
        started = time.monotonic()
        with self.store.session() as s:
            result = s.execute(stmt)
            assert isinstance(result, CursorResult)
            renewed = result.rowcount == 1
        if renewed:
            self._renewed_at = started
        return renewed

    def release(self) -> None:
        """Give the lease up (if ours) so another server need not wait for it to expire."""
        self._renewed_at = None
        try:
            with self.store.session() as s:
                s.execute(
                    delete(LeaseRow).where(
                        LeaseRow.name == self.name, LeaseRow.holder == self.holder
                    )
                )
        except SQLAlchemyError as e:
            log.warning("could not release the %s lease: %s", self.name, self._describe(e))

    def holder_now(self) -> str | None:
        """Who holds the lease now; None if nobody does (free or expired)."""
        with self.store.session() as s:
            return s.scalar(
                select(LeaseRow.holder).where(
                    LeaseRow.name == self.name, LeaseRow.expires_at >= self._db_now()
                )
            )

    async def acquire(
        self, interval: float | None = None, waiting: Callable[[], None] | None = None
    ) -> None:
        """Wait until we hold the lease, trying every ``interval`` seconds (ttl/3); store
        errors are retried. ``waiting`` is called once if the first try fails."""
        while True:
            try:
                if await self._in_thread(self.try_acquire):
                    return
            except SQLAlchemyError as e:
                log.warning("could not take the %s lease: %s", self.name, self._describe(e))
            if waiting is not None:
                waiting()
                waiting = None
            await asyncio.sleep(self.ttl / 3 if interval is None else interval)

    def close(self) -> None:
        """Free the lease's thread (once nothing will be asked of it any more)."""
        self._thread.shutdown(wait=False)

    async def hold(self) -> None:
        """Renew the lease every ttl/3 while we hold it; return once it is lost: taken over
        or expired, or no renewal succeeded for ttl/2 (the store failing or hanging). The
        caller must then stop acting: nobody else can take the lease before ttl."""
        last_ok = self._renewed_at if self._renewed_at is not None else time.monotonic()
        while True:
            deadline = last_ok + self.ttl / 2
            await asyncio.sleep(max(0.0, min(self.ttl / 3, deadline - time.monotonic())))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("lost the %s lease: could not renew it in time", self.name)
                return
            started = time.monotonic()
            try:
                # A renewal that hangs (an unreachable store) must not outlast the deadline;
                # the thread finishes on its own, its result unused.
                renewed = await asyncio.wait_for(self._in_thread(self.renew), remaining)
            except TimeoutError:
                log.warning("lost the %s lease: the store did not answer in time", self.name)
                return
            except SQLAlchemyError as e:
                log.warning("could not renew the %s lease: %s", self.name, self._describe(e))
                continue
            if not renewed:
                log.warning("lost the %s lease: it expired or was taken over", self.name)
                return
            last_ok = started

    def _describe(self, error: SQLAlchemyError) -> str:
        """The database's own message, first line only (not SQLAlchemy's, with the SQL and
        its parameters), and never the store's password."""
        cause = error.orig if isinstance(error, DBAPIError) else error
        message = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        try:
            password = make_url(engine_url(self.store.url)).password
        except ArgumentError:
            password = None
        if password:
            message = message.replace(str(password), "***")
        return f"{type(cause).__name__}: {message}"
