"""TLS on a connection a listener accepted as plain TCP.

Cove's TLS listeners accept plain TCP connections and start TLS on them themselves
(``loop.start_tls``), so that a connection counts against the connection caps from the
moment it is accepted and its handshake counts into the request head's deadline (a
server made with ``create_server(ssl=...)`` tells the protocol of a connection only once
its handshake is over). ``start_tls`` must take the connection over before anything is
read from it; but uvloop starts reading as soon as ``connection_made`` returns, whatever
the protocol asked, and a task would begin ``start_tls`` only at the next turn of the
loop. So ``begin`` runs ``start_tls`` up to its first wait right away, from
``connection_made``: the TLS protocol is in place before the first byte is read. (Python
3.12's eager tasks would do the same.)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from cove.limits import LINGER

Done = Callable[[asyncio.Transport | None], None]


def begin(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    timeout: float,
    done: Done,
) -> None:
    """Start a server-side TLS handshake on ``transport`` now (call from the protocol's
    ``connection_made``). ``done`` gets the TLS transport, or None if the handshake failed
    (too slow, reset, not TLS at all), at once: the TLS protocol passes on the first bytes
    it decrypts right after, and they must find the protocol using the TLS transport."""
    coro = loop.start_tls(
        transport,  # type: ignore[arg-type]
        protocol,
        context,
        server_side=True,
        ssl_handshake_timeout=timeout,
        # A closing connection waits this long for the client's TLS goodbye, reading
        # (and dropping) what it still sends: as long as a plain one lingers.
        ssl_shutdown_timeout=LINGER,
    )
    _step(coro, done)


def _step(coro: Coroutine[Any, Any, Any], done: Done) -> None:
    """One step of ``coro``, as a task would take it: resumed when what it waits on is done."""
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        done(stop.value)
    except Exception:  # the handshake failed
        done(None)
    else:
        waiting.add_done_callback(lambda _: _step(coro, done))
