"""One request/response exchange through the router: the request head, what is still to
be written to the dyno, the response's progress, and its router log line."""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from cove.router.headers import RequestHead
from cove.router.logline import ErrorCode, router_line
from cove.router.table import Route
from cove.router.upstream import UpstreamConn

if TYPE_CHECKING:
    from cove.router.proxy import ClientConn

METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class Exchange:
    """One request/response, from the client's head to the end of the dyno's response."""

    __slots__ = (
        "aborted",
        "chunked",
        "client",
        "close_after",
        "connect",
        "dyno",
        "fwd",
        "has_body",
        "head",
        "host",
        "host_str",
        "http11",
        "is_head",
        "keep_alive",
        "logged",
        "method",
        "nbytes",
        "pending",
        "pending_size",
        "req_done",
        "request_id",
        "resp_done",
        "resp_started",
        "retried",
        "reused",
        "route",
        "status",
        "t_sent",
        "t_start",
        "tried",
        "upgrade",
        "upstream",
        "url",
        "waiting",
    )

    def __init__(
        self,
        client: ClientConn,
        method: bytes,
        url: bytes,
        req: RequestHead,
        http11: bool,
        keep_alive: bool,
        upgrade: bool,
    ) -> None:
        self.client = client
        self.method = method
        self.url = url
        self.head, self.host, self.request_id, self.fwd, self.has_body, self.chunked = req
        self.http11 = http11
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.is_head = method == b"HEAD"
        self.pending: list[bytes] = [self.head]  # bytes for the dyno not yet written
        self.pending_size = 0
        self.upstream: UpstreamConn | None = None
        self.route: Route | None = None
        self.host_str = ""
        self.waiting = False  # sent to a dyno, no response byte yet (H12 applies)
        self.req_done = False
        self.resp_started = False
        self.resp_done = False
        self.close_after = False
        self.aborted = False
        self.reused = False
        self.retried = False  # a pooled connection failed: use fresh ones from now on
        self.tried: set[tuple[str, int, str]] | None = None  # backends that failed us
        self.logged = False
        self.status = 0
        self.nbytes = 0
        self.dyno = ""
        self.connect: float | None = None
        self.t_start = 0.0
        self.t_sent = 0.0

    def flush(self) -> None:
        pending = self.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            # (try, not contextlib.suppress: this is the body-streaming path)
            try:  # noqa: SIM105
                self.upstream.transport.write(data)  # type: ignore[union-attr]  # when bound
            except RuntimeError:
                pass  # uvloop: the dyno's connection closed under us; connection_lost follows

    def drop_upstream(self) -> None:
        """Close the dyno connection mid-exchange (it can't be reused)."""
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.ex = None
            up.transport.close()

    def cancel_timer(self) -> None:
        if self.waiting:
            self.waiting = False
            self.client.router.waiting.discard(self)

    def finish_log(self, error: ErrorCode | None, status: int | None = None) -> None:
        """Log the request as served by a dyno (status/bytes/timings all known)."""
        self.resp_done = True
        self.log(
            error,
            status=self.status if status is None else status,
            nbytes=self.nbytes,
            service=monotonic() - self.t_sent,
            attempted=True,
        )

    def log(
        self,
        error: ErrorCode | None,
        *,
        status: int,
        nbytes: int | None,
        service: float | None,
        attempted: bool,
        cause: str | None = None,
    ) -> None:
        route = self.route
        if route is None or self.logged:
            return
        self.logged = True
        line = router_line(
            error,
            METHODS.get(self.method) or self.method.decode("ascii", "replace"),
            self.url.decode("latin-1"),
            self.host_str,
            self.request_id,
            self.fwd.decode("latin-1"),
            self.dyno if attempted else "",
            self.connect if attempted else None,
            service if attempted else None,
            status,
            nbytes,
            cause,
        )
        router = self.client.router
        try:
            router.log(route.app, line)
            if router.record is not None:  # the dashboard's metrics (cove.metrics)
                code = None if error is None else error[0]
                router.record(route.app, status, service if attempted else None, code)
        except Exception:  # a broken log sink must not break proxying
            return
