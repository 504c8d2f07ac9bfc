"""The http-01 challenges being validated: ``(hostname, token) -> key authorization``.

The issuer adds a challenge just before asking the CA to validate it and removes it when
the authorization is settled; the router answers
``GET http://<hostname>/.well-known/acme-challenge/<token>`` from here on its plain HTTP
listener (the CA fetches it there), so only hosts being issued a certificate (domains of
apps with ACM on) are answered. Tokens and key authorizations are never logged.
"""

from __future__ import annotations

import threading

PREFIX = b"/.well-known/acme-challenge/"
MAX_PENDING = 1000  # a bound: the issuer works on one domain at a time


class Http01Challenges:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the issuer's thread adds, the router's loop reads
        self._pending: dict[tuple[str, str], bytes] = {}

    def add(self, hostname: str, token: str, key_authorization: str) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                raise RuntimeError("too many ACME challenges pending")
            self._pending[(hostname, token)] = key_authorization.encode("ascii")

    def remove(self, hostname: str, token: str) -> None:
        with self._lock:
            self._pending.pop((hostname, token), None)

    def __len__(self) -> int:
        return len(self._pending)

    def answer(self, hostname: str, url: bytes) -> bytes | None:
        """The key authorization for a request to ``url`` at ``hostname``, if it is a
        challenge being validated (a plain dict read: cheap on every request's path)."""
        if not url.startswith(PREFIX) or not self._pending:
            return None
        token = url[len(PREFIX) :].split(b"?", 1)[0]
        try:
            return self._pending.get((hostname, token.decode("ascii")))
        except UnicodeDecodeError:
            return None


def response(body: bytes, *, head_request: bool, close: bool, http11: bool) -> bytes:
    """The router's answer to a challenge request: the key authorization as text."""
    conn = b"Connection: close\r\n" if close else b"" if http11 else b"Connection: keep-alive\r\n"
    return b"".join(
        (
            b"HTTP/1.1 200 OK\r\n",
            b"Content-Type: text/plain\r\nCache-Control: no-cache, no-store\r\n",
            b"Content-Length: %d\r\n" % len(body),
            conn,
            b"\r\n",
            b"" if head_request else body,
        )
    )
