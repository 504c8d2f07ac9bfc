"""Picking TCP ports at run time (dynos' $PORT, add-on servers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def accepts(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host:port`` now (a dyno bound to
    its $PORT): one connection, closed at once."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
