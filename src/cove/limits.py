"""Connection limits shared by the router and the API listener.

``cove server`` is one process with one budget of file descriptors (RLIMIT_NOFILE) for
everything: client connections, connections to dynos, dyno and build pipes, add-on
supervisors and the store. A flood of connections to one listener must not spend it all,
or every app *and* the API stop answering. So at start the soft limit is raised to the
hard one, a reserve is kept for everything that isn't a client connection, and each
listener gets caps sized from what is left: in all, and per client address (so that one
client can't take a whole listener). Connections over a cap are closed as soon as they
are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cove.limits")

# Descriptors kept for what isn't a client connection: dynos' pipes, builds, add-on
# servers, the store, log sessions' files. A tenth of the limit, at least this many.
RESERVE_MIN = 256
# The API is for operators, the CLI and git pushes: a bounded share, whatever the limit.
API_MAX = 1024
API_PER_ADDRESS = 32
# Beyond this many client connections the router's memory, not descriptors, is the limit.
ROUTER_MAX = 10_000
ROUTER_PER_ADDRESS_MIN = 64
# How often a listener says how many connections it refused (one line, not one per refusal).
REPORT_EVERY = 10.0


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.

    Child processes (dynos, builds) inherit the raised limit, as they would from a
    service manager that sets it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        target = _nr_open()  # the kernel's ceiling for RLIMIT_NOFILE
    if soft != resource.RLIM_INFINITY and soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open files limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def open_files_limit() -> int:
    """The soft RLIMIT_NOFILE in force (what caps are sized from)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _nr_open() if soft == resource.RLIM_INFINITY else soft


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1024 * 1024


@dataclass(frozen=True)
class Caps:
    """How many connections a listener holds at once: in all, and from one address."""

    total: int
    per_address: int

    def override(self, total: int = 0, per_address: int = 0) -> Caps:
        """These caps with the operator's settings applied (0 keeps the derived value)."""
        total = total or self.total
        return Caps(total, min(per_address or self.per_address, total))


@dataclass(frozen=True)
class Budget:
    router: Caps
    api: Caps

    @classmethod
    def for_limit(cls, open_files: int) -> Budget:
        """Caps that fit in ``open_files`` descriptors with the reserve kept.

        Each router client connection can hold a connection to a dyno, and the router's
        pool keeps at most as many idle dyno connections as clients: three descriptors a
        client at worst.
        """
        reserve = max(RESERVE_MIN, open_files // 10)
        api_total = max(16, min(API_MAX, open_files // 16))
        api = Caps(api_total, min(api_total, API_PER_ADDRESS))
        router_total = max(16, min(ROUTER_MAX, (open_files - reserve - api_total) // 3))
        per_address = max(min(router_total, ROUTER_PER_ADDRESS_MIN), router_total // 8)
        return cls(Caps(router_total, per_address), api)


_LINGER_OFF = struct.pack("ii", 1, 0)


def refuse(transport: asyncio.BaseTransport) -> None:
    """Close a just-accepted connection at once with a reset: no answer, no lingering, and
    no TIME_WAIT entry left behind for each refused connection of a flood."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
    transport.abort()  # type: ignore[attr-defined]  # (every stream transport has it)


# Seconds a connection refused mid-request drains what its client still sends.
LINGER = 5.0


def half_close(loop: asyncio.AbstractEventLoop, transport: asyncio.WriteTransport) -> bool:
    """Close a connection whose client may still be sending, once the answer is written:
    half-close it, so that what still comes is read (and dropped) until the client's EOF
    or for ``LINGER`` seconds. Closing at once would make the client's kernel answer our
    FIN with a reset that can destroy the answer in flight. False when the connection
    can't be half-closed (TLS): the caller closes it."""
    if not transport.can_write_eof():
        return False
    transport.write_eof()
    loop.call_later(LINGER, transport.close)
    return True


class ConnectionCounter:
    """Connections a listener holds, per client address, against its caps.

    ``admit`` on accept and ``release`` when the connection is gone: two dict operations
    per connection, nothing per request. Refusals are counted and reported by ``report``,
    which the listener's periodic sweep calls: one log line per ``REPORT_EVERY`` seconds
    at most, however many connections were refused.
    """

    __slots__ = (
        "by_address",
        "caps",
        "count",
        "last_over_address",
        "name",
        "next_report",
        "over_address",
        "over_total",
    )

    def __init__(self, name: str, caps: Caps) -> None:
        self.name = name
        self.caps = caps
        self.count = 0
        self.by_address: dict[str, int] = {}
        self.over_address = 0
        self.over_total = 0
        self.last_over_address = ""
        self.next_report = 0.0

    def admit(self, address: str) -> bool:
        n = self.by_address.get(address, 0)
        if n >= self.caps.per_address:
            self.over_address += 1
            self.last_over_address = address
            return False
        if self.count >= self.caps.total:
            self.over_total += 1
            return False
        self.by_address[address] = n + 1
        self.count += 1
        return True

    def release(self, address: str) -> None:
        n = self.by_address.get(address, 0) - 1
        if n > 0:
            self.by_address[address] = n
        elif n == 0:
            del self.by_address[address]
        else:
            return  # not ours (never admitted)
        self.count -= 1

    def report(self, now: float) -> None:
        """Log what was refused since the last report, at most once per REPORT_EVERY s."""
        if not (self.over_address or self.over_total) or now < self.next_report:
            return
        self.next_report = now + REPORT_EVERY
        parts = []
        if self.over_address:
            parts.append(
                f"{self.over_address} from addresses already holding "
                f"{self.caps.per_address} (e.g. {self.last_over_address})"
            )
        if self.over_total:
            parts.append(f"{self.over_total} over {self.caps.total} connections in all")
        log.warning("%s: refused new connections: %s", self.name, "; ".join(parts))
        self.over_address = self.over_total = 0
