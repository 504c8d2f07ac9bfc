"""Responses the router makes itself (no dyno involved)."""

from __future__ import annotations

from cove.router.headers import status_line


def _page(title: str, text: str) -> bytes:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    ).encode()


NO_SUCH_APP = _page("No such app", "There is no app configured at that hostname.")
APPLICATION_ERROR = _page(
    "Application error",
    "An error occurred in the application and your page could not be served. "
    "If you are the application owner, check your logs for details.",
)
MAINTENANCE = _page(
    "Offline for Maintenance",
    "This app is undergoing maintenance right now. Please check back later.",
)
BAD_REQUEST = _page("Bad Request", "The request could not be understood by the router.")
# Pages for requests the router refuses (cove.router.headers.BadRequest), by status.
REFUSED = {
    400: BAD_REQUEST,
    414: _page("URI Too Long", "The request line is longer than the router accepts."),
    431: _page(
        "Request Header Fields Too Large",
        "A header line, or the number of headers, is over the router's limit.",
    ),
}


def router_response(
    status: int, body: bytes, *, head_request: bool, close: bool, http11: bool
) -> bytes:
    conn = b"Connection: close\r\n" if close else b"" if http11 else b"Connection: keep-alive\r\n"
    return b"".join(
        (
            status_line(status),
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Cache-Control: no-cache, no-store\r\n"
            b"Content-Length: %d\r\n" % len(body),
            conn,
            b"\r\n",
            b"" if head_request else body,
        )
    )
