"""Who listens on a port: the /proc/net/tcp{,6} parser and the ownership check that a
dyno's $PORT is served by the dyno itself."""

from __future__ import annotations

import ipaddress
import os
import socket

from cove.sandbox import listeners
from cove.sandbox.listeners import Listener, parse_tcp_table
from cove.sandbox.processes import pid_namespace

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
)
TCP = HEADER + (
    # 127.0.0.1:8080 LISTEN, uid 200001
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 200001"
    "        0 4242 1 0000000000000000 100 0 0 10 0\n"
    # 0.0.0.0:8080 LISTEN, uid 0
    "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
    "        0 4343 1 0000000000000000 100 0 0 10 0\n"
    # 127.0.0.1:8080 ESTABLISHED (a client of the port, not a listener)
    "   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000 200001"
    "        0 4444 1 0000000000000000 20 4 30 10 -1\n"
    # 127.0.0.1:18080 LISTEN: the port's hex digits appear, but it is another port
    "   3: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
    "        0 4545 1 0000000000000000 100 0 0 10 0\n"
    # 127.0.0.2:8080 LISTEN
    "   4: 0200007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
    "        0 4646 1 0000000000000000 100 0 0 10 0\n"
)
TCP6 = HEADER + (
    # [::]:8080 LISTEN
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 4747 1 0000000000000000 100 0 0 10 0\n"
    # [::ffff:127.0.0.1]:8080 LISTEN
    "   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 4848 1 0000000000000000 100 0 0 10 0\n"
    # [::1]:8080 LISTEN
    "   2: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 4949 1 0000000000000000 100 0 0 10 0\n"
)


def addresses(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(text) for text in texts]


def test_parse_ipv4_listeners_of_one_port() -> None:
    found = parse_tcp_table(TCP, 8080)
    assert [(str(f.address), f.uid, f.inode) for f in found] == [
        ("127.0.0.1", 200001, 4242),
        ("0.0.0.0", 0, 4343),
        ("127.0.0.2", 0, 4646),
    ]
    assert [f.inode for f in parse_tcp_table(TCP, 18080)] == [4545]
    assert parse_tcp_table(TCP, 9999) == []
    assert parse_tcp_table(HEADER, 8080) == [] and parse_tcp_table("", 8080) == []


def test_parse_ipv6_listeners() -> None:
    found = parse_tcp_table(TCP6, 8080)
    assert [f.address for f in found] == addresses("::", "::ffff:127.0.0.1", "::1")
    assert {f.uid for f in found} == {1000}


def test_which_listeners_a_connection_to_localhost_reaches() -> None:
    reached = [
        f.address
        for f in parse_tcp_table(TCP, 8080) + parse_tcp_table(TCP6, 8080)
        if f.reaches("127.0.0.1")
    ]
    assert reached == addresses("127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1")


def test_foreign_by_uid_needs_no_process_scan() -> None:
    mine = Listener(ipaddress.ip_address("0.0.0.0"), 8080, 200001, 1)
    theirs = Listener(ipaddress.ip_address("0.0.0.0"), 8080, 200002, 2)
    # A namespace nothing is in: only the uid decides for a listener of another user.
    assert listeners.foreign([theirs], "pid:[0]", 200001) == [theirs]
    # Right uid but no process of the sandbox holds it: someone else's too.
    assert listeners.foreign([mine, theirs], "pid:[0]", 200001) == [theirs, mine]


def test_a_real_listener_is_found_and_owned_by_its_process() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        (found,) = listeners.listeners(port, "127.0.0.1")
        assert found.uid == os.geteuid() and found.port == port
        assert found.inode in listeners.socket_inodes([os.getpid()])
        own = pid_namespace(os.getpid())
        assert own is not None
        # Held by a process in our own PID namespace (this test's): not foreign.
        assert listeners.foreign([found], own, os.geteuid()) == []
    assert listeners.listeners(port, "127.0.0.1") == []
