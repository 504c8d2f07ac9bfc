"""Who listens on a TCP port: the check that a dyno's ``$PORT`` is served by the dyno.

A dyno's port is picked free and handed to the dyno, which binds it a moment later; where
dynos share the host's network namespace, any process on the host could bind it in between
and receive the dyno's traffic (with a network namespace of its own, only the dyno can). So before a
dyno counts as up, every socket listening where the router connects must belong to it: its
uid is the app's (when apps have their own users), and its inode is held open by a process
in the dyno's PID namespace (which also tells apps apart when they share Cove's user).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cove.sandbox.processes import members

TCP_TABLES = ("tcp", "tcp6")
LISTEN = "0A"  # TCP_LISTEN in the tables' `st` column


@dataclass(frozen=True)
class Listener:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    uid: int
    inode: int

    def reaches(self, host: str) -> bool:
        """Whether connections to ``host`` on this port can land on this socket: it is
        bound to ``host`` or to every address (a v6 wildcard may accept IPv4 too)."""
        target = ipaddress.ip_address(host)
        if self.address.is_unspecified or self.address == target:
            return True
        mapped = getattr(self.address, "ipv4_mapped", None)
        return mapped is not None and (mapped == target or mapped.is_unspecified)


def _address(hex_text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # The kernel prints each 32-bit word of the address in host byte order.
    words = [int(hex_text[i : i + 8], 16) for i in range(0, len(hex_text), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    return ipaddress.IPv4Address(packed) if len(words) == 1 else ipaddress.IPv6Address(packed)


def parse_tcp_table(text: str, port: int) -> list[Listener]:
    """The LISTEN sockets on ``port`` in the text of /proc/net/tcp or /proc/net/tcp6."""
    wanted = f":{port:04X}"
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        if len(fields) < 10 or fields[3] != LISTEN or not fields[1].endswith(wanted):
            continue
        with contextlib.suppress(ValueError):
            address = _address(fields[1].partition(":")[0])
            found.append(Listener(address, port, int(fields[7]), int(fields[9])))
    return found


def listeners(port: int, host: str, net: Path = Path("/proc/net")) -> list[Listener]:
    """The sockets listening on ``port`` that connections to ``host`` can reach, in the
    network namespace whose tables are in ``net`` (``/proc/<pid>/net``: the namespace of
    process ``pid``; by default Cove's own)."""
    found: list[Listener] = []
    for table in TCP_TABLES:
        with contextlib.suppress(OSError):  # no IPv6 on this host
            found += parse_tcp_table((net / table).read_text(), port)
    return [listener for listener in found if listener.reaches(host)]


def socket_inodes(pids: Iterable[int]) -> set[int]:
    """Inodes of the sockets the processes ``pids`` have open."""
    inodes = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        with contextlib.suppress(OSError):  # exited meanwhile
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"{fd_dir}/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(int(target[8:-1]))
    return inodes


def foreign(
    found: Iterable[Listener], namespace: str, uid: int | None, bwrap_pid: int | None = None
) -> list[Listener]:
    """The listeners in ``found`` that are not the sandbox's: another uid than ``uid``
    (when the sandbox has its own user) or a socket no process in PID namespace
    ``namespace`` holds. Reads /proc: run it off the event loop."""
    found = list(found)
    others = [listener for listener in found if uid is not None and listener.uid != uid]
    rest = [listener for listener in found if listener not in others]
    if not rest:
        return others
    held = socket_inodes(members(namespace, bwrap_pid))
    return others + [listener for listener in rest if listener.inode not in held]
