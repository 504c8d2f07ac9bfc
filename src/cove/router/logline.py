"""The body of Heroku's ``heroku[router]:`` log line, one per request."""

from __future__ import annotations

# Router error codes (https://devcenter.heroku.com/articles/error-codes).
H10 = ("H10", "App crashed")
H12 = ("H12", "Request timeout")
H13 = ("H13", "Connection closed without response")
H14 = ("H14", "No web processes running")
H17 = ("H17", "Poorly formatted HTTP response")
H18 = ("H18", "Server Request Interrupted")
H20 = ("H20", "App boot timeout")
H26 = ("H26", "Request Error")  # a malformed request; the log line says its cause
H27 = ("H27", "Client Request Interrupted")
H80 = ("H80", "Maintenance mode")
H99 = ("H99", "Platform error")

ErrorCode = tuple[str, str]


def router_line(
    error: ErrorCode | None,
    method: str,
    path: str,
    host: str,
    request_id: str,
    fwd: str,
    dyno: str,
    connect: float | None,
    service: float | None,
    status: int | None,
    nbytes: int | None,
    cause: str | None = None,
) -> str:
    """``connect``/``service`` are seconds; ``None`` prints an empty field (``connect=``).
    ``cause`` follows ``desc`` (H26: ``cause="bad header"``)."""
    if error is None:
        at = "at=info"
    else:
        # H80 is an expected state, not a failure: Heroku logs it at info level.
        level = "info" if error[0] == "H80" else "error"
        at = f'at={level} code={error[0]} desc="{error[1]}"'
        if cause is not None:
            at += f' cause="{cause}"'
    if '"' in path:
        path = path.replace('"', "%22")
    c = "" if connect is None else f"{connect * 1000:.0f}ms"
    s = "" if service is None else f"{service * 1000:.0f}ms"
    return (
        f'{at} method={method} path="{path}" host={host} request_id={request_id} '
        f'fwd="{fwd}" dyno={dyno} connect={c} service={s} '
        f"status={'' if status is None else status} bytes={'' if nbytes is None else nbytes} "
        "protocol=http"
    )
