"""The ACM loop: gets certificates for the domains that need one, one at a time.

It passes over the store's ACM work (cove.services.acm.due) at start, whenever an event
may have made some (ACM enabled or refreshed, a domain added or removed), and every
``check_interval`` (renewals; failing domains tried again). A failure sets the domain's
status to ``failing`` with its reason and never touches the certificate it has; nothing
here can stop the server (an unexpected error is logged and the loop goes on).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cove.domain import acm
from cove.services import acm as acm_service
from cove.store import Store

log = logging.getLogger("cove.acm")

WAKE_EVENTS = frozenset(
    {"app.acm_enabled", "app.acm_refreshed", "domain.created", "domain.deleted"}
)


@dataclass(frozen=True)
class Issued:
    certificate_chain: str
    private_key: str  # PEM, unencrypted: stored encrypted like an uploaded one


class IssueError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Issuer(Protocol):
    async def issue(self, hostname: str) -> Issued: ...


class DeferredIssuer:
    """The issuer ``build`` makes, made on first use: importing the ACME client library
    (cove.acm.issuer) costs ~0.1 s of every server start, and most never issue."""

    def __init__(self, build: Callable[[], Issuer]) -> None:
        self._build = build
        self._issuer: Issuer | None = None

    async def issue(self, hostname: str) -> Issued:
        if self._issuer is None:
            self._issuer = self._build()
        return await self._issuer.issue(hostname)


class AcmManager:
    def __init__(self, store: Store, issuer: Issuer, check_interval: float) -> None:
        self.store = store
        self.issuer = issuer
        self.check_interval = max(1.0, check_interval)
        self._wake = asyncio.Event()
        self.passes = 0  # (tests wait on it)

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        watcher = asyncio.create_task(self._watch(cursor))
        try:
            periodic = True  # the first pass, at start, is a full check
            while True:
                try:
                    await self._pass(retry_failing=periodic)
                except Exception:  # a bug or the store: logged, tried again later
                    log.exception("ACM: a pass over the domains failed")
                self.passes += 1
                try:
                    await asyncio.wait_for(self._wake.wait(), self.check_interval)
                    periodic = False
                except TimeoutError:
                    periodic = True
                self._wake.clear()
        finally:
            watcher.cancel()

    async def _watch(self, cursor: int) -> None:
        async for event in self.store.watch(cursor):
            if event.kind in WAKE_EVENTS:
                self._wake.set()

    async def _pass(self, *, retry_failing: bool) -> None:
        now = datetime.datetime.now(datetime.UTC)
        work = await asyncio.to_thread(
            acm_service.due, self.store, now, retry_failing=retry_failing
        )
        for item in work:
            await self.issue(item)

    async def issue(self, work: acm_service.Work) -> None:
        if work.hostname.startswith("*."):
            await asyncio.to_thread(
                acm_service.set_status, self.store, work, acm.FAILED, acm.WILDCARD_REASON
            )
            return
        if work.status is None or work.status == acm.FAILING:
            await asyncio.to_thread(acm_service.set_status, self.store, work, acm.PENDING)
        try:
            issued = await self.issuer.issue(work.hostname)
        except IssueError as exc:
            log.warning("ACM: no certificate for %s: %s", work.hostname, exc.reason)
            reason = exc.reason
            if work.renewal:
                reason = f"Renewal failed (the current certificate stays): {reason}"
            await asyncio.to_thread(acm_service.set_status, self.store, work, acm.FAILING, reason)
            return
        except Exception:
            log.exception("ACM: getting a certificate for %s failed", work.hostname)
            reason = "Cove's ACME client failed unexpectedly (the server's log says why)."
            await asyncio.to_thread(acm_service.set_status, self.store, work, acm.FAILING, reason)
            return
        await asyncio.to_thread(
            acm_service.issued, self.store, work, issued.certificate_chain, issued.private_key
        )
