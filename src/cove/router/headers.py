"""Rewriting request and response heads as they pass through the router.

Everything is bytes: httptools hands us bytes and the transports want bytes, so decoding
would only cost time. Header names keep the client's spelling; only lookups are lowercased.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from random import getrandbits

MAX_REQUEST_LINE = 8192
MAX_HEADER_LINE = 8192
MAX_HEADERS = 1000

Headers = list[tuple[bytes, bytes]]


class BadRequest(Exception):
    """A request the router refuses to forward: the status it gets and the ``cause`` of
    its H26 router log line (Heroku's "bad header", "bad chunk", ...)."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(status, cause)
        self.status = status
        self.cause = cause


# What to do with a header beyond copying it through.
_CONNECTION = 1
_DROP = 2
_UPGRADE = 3
_TRANSFER_ENCODING = 4
_XFF = 5
_REQUEST_ID = 6
_VIA = 7
_HOST = 8
_CONTENT_LENGTH = 9
_XFP = 10  # X-Forwarded-Proto and -Port: kept from a trusted front proxy only
_XFPORT = 11

_REQUEST_SPECIAL: dict[bytes, int] = {
    b"connection": _CONNECTION,
    b"keep-alive": _DROP,
    b"proxy-connection": _DROP,
    b"te": _DROP,
    b"trailer": _DROP,
    b"upgrade": _UPGRADE,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"x-forwarded-for": _XFF,
    b"x-forwarded-proto": _DROP,  # replaced
    b"x-forwarded-port": _DROP,  # replaced
    b"x-request-start": _DROP,  # replaced
    b"x-request-id": _REQUEST_ID,
    b"via": _VIA,
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
}

# From a trusted front proxy: the same, but its X-Forwarded-Proto and -Port are kept.
_TRUSTED_SPECIAL = _REQUEST_SPECIAL | {b"x-forwarded-proto": _XFP, b"x-forwarded-port": _XFPORT}

_RESPONSE_SPECIAL: dict[bytes, int] = {
    b"connection": _CONNECTION,
    b"keep-alive": _DROP,
    b"proxy-connection": _DROP,
    b"te": _DROP,
    b"trailer": _DROP,
    b"upgrade": _UPGRADE,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"via": _VIA,
    b"content-length": _CONTENT_LENGTH,
}

_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade", b""})
_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9+/=-]{20,200}")
VIA = b"1.1 cove"

# Response body framing towards the client.
BODY_NONE = 0  # HEAD, 1xx, 204, 304
BODY_RAW = 1  # copy bytes: Content-Length, or delimited by closing the connection
BODY_CHUNKED = 2  # re-frame as chunked (upstream was chunked or close-delimited)

_STATUS_LINES: dict[int, bytes] = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus
}


def status_line(status: int) -> bytes:
    """The reason phrase is ours, not the app's: HTTP/1.1 gives it no meaning."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d Unknown\r\n" % status
    return line


def new_request_id() -> str:
    """A uuid4 string. Not from os.urandom (a syscall per request): ids need only be unique."""
    n = getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)
    n = n & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _connection_tokens(value: bytes) -> set[bytes]:
    return {t.strip().lower() for t in value.split(b",")} - _CONNECTION_OPTIONS


def _append(old: bytes | None, value: bytes) -> bytes:
    return value if old is None else old + b", " + value


def _without(parts: list[bytes], first: int, names: set[bytes]) -> list[bytes]:
    """Drop headers named in Connection. From ``first`` on, parts are (name, ": ", value, CRLF)."""
    kept = parts[:first]
    for i in range(first, len(parts), 4):
        if parts[i].lower() not in names:
            kept += parts[i : i + 4]
    return kept


# (head, host, request id, X-Forwarded-For as sent, has a body, chunked)
RequestHead = tuple[bytes, bytes, str, bytes, bool, bool]


def build_request_head(
    method: bytes,
    url: bytes,
    headers: Headers,
    client_ip: bytes,
    forwarded: bytes,
    start_ms: int,
    upgrade: bool,
    trusted: bool = False,
) -> RequestHead:
    """The request as rewritten for the dyno (always HTTP/1.1, keep-alive).

    ``forwarded`` is the listener's X-Forwarded-Proto and -Port lines (``forwarded_fields``).
    From a ``trusted`` front proxy, its X-Forwarded-For goes to the dyno as it came (it
    names the client already) and its X-Forwarded-Proto and -Port replace the listener's.

    Raises BadRequest for two Host headers (RFC 9112: 400; the dyno and the router could
    disagree on which app the request is for).
    """
    parts: list[bytes] = [method, b" ", url, b" HTTP/1.1\r\n"]
    host: bytes | None = None
    # Hot path: copy plain headers; defer the few that need thought (usually none but Host).
    rare: list[tuple[int, bytes, bytes]] | None = None
    special = (_TRUSTED_SPECIAL if trusted else _REQUEST_SPECIAL).get
    for name, value in headers:
        code = special(name.lower())
        if code is None:
            parts += (name, b": ", value, b"\r\n")
        elif code == _HOST:
            if host is not None:
                raise BadRequest(400, "bad header")
            host = value
            parts += (name, b": ", value, b"\r\n")
        elif code != _DROP:
            if rare is None:
                rare = []
            rare.append((code, name, value))

    xff: bytes | None = None
    rid: bytes | None = None
    via = VIA
    upgrade_to: bytes | None = None
    chunked = has_body = False
    if rare is not None:
        via_in: bytes | None = None
        extra: set[bytes] = set()
        for code, name, value in rare:
            if code == _CONTENT_LENGTH:
                has_body = value.strip() != b"0"
                parts += (name, b": ", value, b"\r\n")
            elif code == _TRANSFER_ENCODING:
                chunked = has_body = True  # llhttp rejects any non-chunked request coding
            elif code == _XFF:
                xff = _append(xff, value)
            elif code == _REQUEST_ID:
                rid = value
            elif code == _VIA:
                via_in = _append(via_in, value)
            elif code == _UPGRADE:
                upgrade_to = value
            elif code == _CONNECTION:
                extra |= _connection_tokens(value)
            elif code in (_XFP, _XFPORT):  # (trusted only)
                forwarded = _replace_field(forwarded, name, value)
        if via_in is not None:
            via = via_in + b", " + VIA
        if extra:
            # Headers named in Connection are hop-by-hop too, wherever they appeared.
            parts = _without(parts, 4, extra)

    if xff is None:
        fwd = client_ip
    elif trusted:
        fwd = xff
    else:
        fwd = xff + b", " + client_ip
    if rid is not None and _REQUEST_ID_RE.fullmatch(rid):
        request_id = rid.decode("ascii")
    else:
        request_id = new_request_id()
    parts.append(
        b"X-Forwarded-For: %s\r\n%sX-Request-Start: %d\r\nX-Request-Id: %s\r\nVia: %s\r\n"
        % (fwd, forwarded, start_ms, request_id.encode("ascii"), via)
    )
    if chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if upgrade and upgrade_to is not None:
        parts += (b"Connection: upgrade\r\nUpgrade: ", upgrade_to, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), host or b"", request_id, fwd, has_body, chunked


def _replace_field(forwarded: bytes, name: bytes, value: bytes) -> bytes:
    """``forwarded`` (X-Forwarded-Proto and -Port lines) with the ``name`` field's value
    replaced by a trusted proxy's."""
    lines = forwarded.split(b"\r\n")
    key = name.lower() + b":"
    out = [
        b"%s: %s" % (line.split(b":", 1)[0], value.strip())
        if line.lower().startswith(key)
        else line
        for line in lines
    ]
    return b"\r\n".join(out)


def rewrite_location(headers: Headers, old: bytes, new: bytes) -> Headers:
    """``headers`` with a ``Location`` that starts with the URL prefix ``old`` (followed by
    the end, ``/``, ``?`` or ``#``) starting with ``new`` instead."""
    out: Headers = []
    n = len(old)
    for name, value in headers:
        if (
            name.lower() == b"location"
            and value[:n].lower() == old.lower()
            and value[n : n + 1] in (b"", b"/", b"?", b"#")
        ):
            value = new + value[n:]
        out.append((name, value))
    return out


def build_response_head(
    status: int,
    headers: Headers,
    *,
    head_request: bool,
    http11: bool,
    close: bool,
    upgrade: bool = False,
) -> tuple[bytes, int, bool, bool]:
    """Returns (head, body framing, close the client connection after, close-delimited).

    ``close`` says the client connection must close after this response anyway.
    """
    parts: list[bytes] = [status_line(status)]
    length: bytes | None = None
    rare: list[tuple[int, bytes, bytes]] | None = None
    special = _RESPONSE_SPECIAL.get
    for name, value in headers:
        code = special(name.lower())
        if code is None:
            parts += (name, b": ", value, b"\r\n")
        elif code == _CONTENT_LENGTH:
            length = value
        elif code != _DROP:
            if rare is None:
                rare = []
            rare.append((code, name, value))

    via = VIA
    upgrade_to = b""
    chunked = False
    if rare is not None:
        via_in: bytes | None = None
        extra: set[bytes] = set()
        for code, _name, value in rare:
            if code == _TRANSFER_ENCODING:
                chunked = True
            elif code == _VIA:
                via_in = _append(via_in, value)
            elif code == _UPGRADE:
                upgrade_to = value
            elif code == _CONNECTION:
                extra |= _connection_tokens(value)
        if via_in is not None:
            via = via_in + b", " + VIA
        if extra:
            parts = _without(parts, 1, extra)

    eof = False
    if length is not None and not chunked:
        # (With chunked it is meaningless, and llhttp refuses such responses anyway.)
        parts += (b"Content-Length: ", length, b"\r\n")
    if upgrade:
        body = BODY_NONE
        parts += (b"Connection: upgrade\r\nUpgrade: ", upgrade_to, b"\r\n")
    elif head_request or status == 204 or status == 304:
        body = BODY_NONE
    elif length is not None and not chunked:
        body = BODY_RAW
    else:
        # Chunked, or delimited by the dyno closing: re-chunk for HTTP/1.1 clients,
        # HTTP/1.0 clients get raw bytes ended by our close.
        eof = not chunked
        body = BODY_CHUNKED if http11 else BODY_RAW
        close = close or not http11
    if body == BODY_CHUNKED:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if not upgrade:
        if close:
            parts.append(b"Connection: close\r\n")
        elif not http11:
            parts.append(b"Connection: keep-alive\r\n")
    parts += (b"Via: ", via, b"\r\n\r\n")
    return b"".join(parts), body, close, eof


def build_interim_head(status: int, headers: Headers) -> bytes:
    """A 1xx response (100 Continue, 103 Early Hints) relayed as is, minus hop-by-hop headers."""
    parts: list[bytes] = [status_line(status)]
    for name, value in headers:
        if name.lower() not in _RESPONSE_SPECIAL:
            parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
