"""A relay between the processes sharing a PostgreSQL store (``cove server`` split into
api, router and manager roles, on one host or several): each process keeps its own
in-memory log router, yet a tail served by an API process must see the lines a manager's
dynos and a router's requests produce. They travel as NOTIFY payloads on ``CHANNEL``,
through the store's one listening connection: no broker to run beside PostgreSQL.

Generic: messages are (topic, key, lines, end). Bounded: what a process sends waits in a
queue of at most ``capacity`` lines (beyond it the newest are dropped and counted), and
goes out every FLUSH_SECONDS, or as soon as a batch is full, in one transaction per batch.
Ordered: one sender's transactions follow each other, and PostgreSQL delivers a
transaction's notifications together and in order, after those of earlier commits.

A NOTIFY payload is limited to 8000 bytes: a message is packed into payloads of at most
PAYLOAD_BYTES, and a line longer than one payload is cut into parts (in the same
transaction) that the receiver joins again. Payloads are JSON in ASCII, so their size in
bytes is their length whatever the lines' characters.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cove.store import Store

log = logging.getLogger(__name__)

CHANNEL = "cove_relay"
PAYLOAD_BYTES = 7900  # a payload stays under this (PostgreSQL refuses 8000 and more)
FLUSH_SECONDS = 0.02  # how long lines may wait to go out with others
BATCH_LINES = 500  # lines per transaction at most (and a batch this full goes at once)
QUEUE_LINES = 20_000  # lines waiting to be sent at most
WARN_SECONDS = 5.0  # at most one warning about dropped lines this often
NAMES_BYTES = 1000  # a message's topic and key take at most this (leaving room for lines)

Handler = Callable[[str, list[str], bool], None]


@dataclass
class _Message:
    topic: str
    key: str
    lines: list[str]
    end: bool


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # ensure_ascii: its length is its size


def _split(line: str, room: int) -> list[str]:
    """``line`` cut into parts whose JSON strings take at most ``room`` bytes each."""
    parts = []
    while line:
        n = min(len(line), room)
        while (size := len(_json(line[:n]))) > room:
            n = max(1, n * room // size)  # escapes make some characters take up to 12
        parts.append(line[:n])
        line = line[n:]
    return parts


class Relay:
    """Sends (``send``, ``run``) and receives (``subscribe``) messages for this process,
    whose event loop is ``loop``: ``send`` and the subscribers' handlers run on it."""

    def __init__(
        self, store: Store, loop: asyncio.AbstractEventLoop, capacity: int = QUEUE_LINES
    ) -> None:
        self._store = store
        self._loop = loop
        self._capacity = capacity
        self._sender = secrets.token_hex(8)  # tells this process's messages from others'
        self._seq = itertools.count()  # per payload: makes each one unique
        self._queue: deque[_Message] = deque()
        self._queued = 0  # lines in the queue
        self._wake = asyncio.Event()  # something is queued
        self._full = asyncio.Event()  # a batch's worth is queued
        self._sending = asyncio.Lock()  # one batch at a time, in order
        self._closed = False
        self._subscribers: dict[str, list[Handler]] = {}
        self._listening = False
        self._partial: dict[str, tuple[int, str]] = {}  # sender: (seq, a line's first parts)
        self.dropped = 0  # lines lost: the queue was full, or the store failed
        self._overflow = self._failed = 0  # ... not yet reported
        self._failure = ""
        self._warned = -math.inf
        self._report_pending = False

    # Sending (on the event loop).

    def send(self, topic: str, key: str, lines: list[str], end: bool = False) -> None:
        """Queue ``lines`` (and ``end``) for the other processes; never blocks."""
        if len(_json([topic, key])) > NAMES_BYTES:
            raise ValueError("a relay message's topic and key are too long")
        if self._closed:
            return
        room = max(0, self._capacity - self._queued)
        if len(lines) > room:
            self._drop(len(lines) - room)
        lines = lines[:room]  # (a copy: the caller's list may change)
        if not lines and not end:
            return
        self._queue.append(_Message(topic, key, lines, end))
        self._queued += len(lines)
        self._wake.set()
        if self._queued >= BATCH_LINES:
            self._full.set()

    async def run(self) -> None:
        """Send what is queued, until closed."""
        while not self._closed:
            await self._wake.wait()
            if not self._closed:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), FLUSH_SECONDS)
            await self._flush()

    async def close(self) -> None:
        """Send what is queued, then stop: no more sending or receiving."""
        self._closed = True
        self._wake.set()
        self._full.set()
        while self._queue:
            await self._flush()

    async def _flush(self) -> None:
        async with self._sending:
            batch, count = self._take()
            if not self._closed:
                if not self._queue:
                    self._wake.clear()
                if self._queued < BATCH_LINES:
                    self._full.clear()
            if not batch:
                return
            try:
                await asyncio.to_thread(self._send, batch)
            except Exception as exc:
                # Only the error's type: its message may hold the payloads or the URL.
                self._drop(count, failure=type(exc).__name__)

    def _take(self) -> tuple[list[_Message], int]:
        """The next batch off the queue (a long message's first lines, if need be)."""
        batch: list[_Message] = []
        room = BATCH_LINES
        while self._queue and room > 0:
            m = self._queue[0]
            if len(m.lines) <= room:
                batch.append(self._queue.popleft())
                room -= len(m.lines)
            else:
                batch.append(_Message(m.topic, m.key, m.lines[:room], False))
                m.lines = m.lines[room:]
                room = 0
        count = BATCH_LINES - room
        self._queued -= count
        return batch, count

    def _send(self, batch: list[_Message]) -> None:
        """(In a thread.) The batch as payloads, in one transaction."""
        self._store.notify(CHANNEL, [p for m in batch for p in self._pack(m)])

    def _pack(self, m: _Message) -> list[str]:
        """The message as payloads: as many lines in each as fit. A line too long for one
        is cut in parts, each but the last in a payload of its own flagged ``c`` (its last
        line continues in the next payload)."""
        header = {"s": self._sender, "t": m.topic, "k": m.key}
        # Room for the lines: what the rest leaves, with the longest sequence number and
        # flags, less a byte (to stay under PAYLOAD_BYTES).
        rest = _json({**header, "n": 10**20, "c": False, "e": False, "l": []})
        room = PAYLOAD_BYTES - 1 - len(rest)
        payloads: list[str] = []

        def emit(body: list[str], more: bool = False, end: bool = False) -> None:
            payloads.append(_json({**header, "n": next(self._seq), "c": more, "e": end, "l": body}))

        body: list[str] = []
        used = 0
        for line in m.lines:
            cost = len(_json(line)) + 1  # (and a comma)
            if used + cost > room and body:
                emit(body)
                body, used = [], 0
            if cost <= room:
                body.append(line)
                used += cost
                continue
            *parts, last = _split(line, room - 1)
            for part in parts:
                emit([part], more=True)
            body, used = [last], len(_json(last)) + 1
        emit(body, end=m.end)
        return payloads

    def _drop(self, count: int, failure: str | None = None) -> None:
        """Count lost lines; report them in a warning, at most once per WARN_SECONDS."""
        self.dropped += count
        if failure is None:
            self._overflow += count
        else:
            self._failed += count
            self._failure = failure
        if not self._report_pending:
            self._report_pending = True
            delay = max(0.0, self._warned + WARN_SECONDS - time.monotonic())
            self._loop.call_later(delay, self._report)

    def _report(self) -> None:
        # Counts only, never lines: they may hold secrets.
        if self._overflow:
            log.warning("log relay: queue full, %d lines dropped", self._overflow)
        if self._failed:
            log.warning(
                "log relay: the store failed (%s), %d lines dropped", self._failure, self._failed
            )
        self._overflow = self._failed = 0
        self._warned = time.monotonic()
        self._report_pending = False

    # Receiving.

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(key, lines, end)`` on the event loop for each message on ``topic``
        from the other processes, in the order received."""
        self._subscribers.setdefault(topic, []).append(handler)
        if not self._listening:
            self._listening = True
            self._store.listen(CHANNEL, self._receive)

    def _receive(self, payload: str) -> None:
        """(On the store's listener thread.) A payload: its lines to the event loop."""
        try:
            m = json.loads(payload)
            sender, seq, topic, key = m["s"], m["n"], m["t"], m["k"]
            lines, more, end = list(m["l"]), bool(m["c"]), bool(m["e"])
        except (ValueError, KeyError, TypeError):
            log.warning("log relay: an unreadable message was ignored")
            return
        if sender == self._sender or self._closed:
            return
        partial = self._partial.pop(sender, None)
        # A line's parts are consecutive payloads (unless some were lost: then dropped).
        if partial is not None and partial[0] == seq - 1 and lines:
            lines[0] = partial[1] + lines[0]
        if more and lines:
            self._partial[sender] = (seq, lines.pop())
        if lines or end:
            with suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._deliver, topic, key, lines, end)

    def _deliver(self, topic: str, key: str, lines: list[str], end: bool) -> None:
        for handler in self._subscribers.get(topic, ()):
            try:
                handler(key, lines, end)
            except Exception:
                log.exception("log relay: a subscriber to %s failed", topic)
