"""The pre-receive hook's few API calls, on the standard library alone.

The hook starts on every push, before anything of the build can: importing httpx (and the
click and rich it pulls in) took ~0.1 s of a ~1 s warm deploy, the standard library's
``http.client`` ~0.02 s. One kept-alive connection to the API serves every call.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

ACCEPT = "application/vnd.heroku+json; version=3"
TIMEOUT = 60.0


class HookApiError(Exception):
    """The API answered with an error, or couldn't be reached; the message says which."""


class HookApi:
    def __init__(
        self,
        base_url: str,
        token: str,
        context: ssl.SSLContext | None,
        wider: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        """``wider``: the trust to fall back on when ``context`` doesn't verify the API's
        certificate (made only then: reading the system's CAs costs ~45 ms of a push)."""
        self.base = urlsplit(base_url.rstrip("/"))
        self.token = token
        self.context = context
        self.wider = wider
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> HookApi:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- the calls --------------------------------------------------------------------------

    def create_source(self) -> dict[str, Any]:
        return self._json("POST", self._at("/sources"))

    def upload_source(self, put_url: str, data: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        self._json("PUT", self._path(put_url), body=data, headers=headers)

    def create_build(self, app: str, source_url: str, version: str) -> dict[str, Any]:
        body = {"source_blob": {"url": source_url, "version": version}}
        path = self._at(f"/apps/{_seg(app)}/builds")
        return self._json("POST", path, body=json.dumps(body).encode())

    def get_build(self, app: str, build_id: str) -> dict[str, Any]:
        return self._json("GET", self._at(f"/apps/{_seg(app)}/builds/{_seg(build_id)}"))

    def get_release(self, app: str, release_id: str) -> dict[str, Any]:
        return self._json("GET", self._at(f"/apps/{_seg(app)}/releases/{_seg(release_id)}"))

    def stream_build_output(self, url: str) -> Iterator[str]:
        """The build's output lines, as they come, until the build ends (no read timeout:
        a build may run for its whole time limit)."""
        response = self._send("GET", self._path(url), headers={"Accept": "text/plain"})
        assert self._conn is not None and self._conn.sock is not None
        self._conn.sock.settimeout(None)
        try:
            while raw := response.readline():
                yield raw.decode(errors="replace").rstrip("\r\n")
        except OSError as exc:
            raise HookApiError(f"could not reach {url}: {exc}") from None
        finally:
            if self._conn.sock is not None:
                self._conn.sock.settimeout(TIMEOUT)

    # -- plumbing ---------------------------------------------------------------------------

    def _at(self, path: str) -> str:
        return self.base.path + path

    def _path(self, url: str) -> str:
        """The path of a URL on the API: the source and output URLs Cove hands out are on
        it; any other is refused rather than sent the token."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != (self.base.scheme, self.base.netloc):
            raise HookApiError(f"unexpected URL outside the API: {url}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.base.hostname or "", self.base.port
            if self.base.scheme != "https":
                self._conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
                return self._conn
            conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=self.context)
            if self.wider is not None:
                try:
                    conn.connect()
                except ssl.SSLCertVerificationError:
                    conn.close()
                    self.context, self.wider = self.wider(), None
                    conn = http.client.HTTPSConnection(
                        host, port, timeout=TIMEOUT, context=self.context
                    )
            self._conn = conn
        return self._conn

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        all_headers = {
            "Accept": ACCEPT,
            "Authorization": f"Bearer {self.token}",
            "User-Agent": "cove-git-hook",
            **({"Content-Type": "application/json"} if body is not None else {}),
            **(headers or {}),
        }
        try:
            conn = self._connection()
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if self._conn is not None:
                self._conn.close()
            raise HookApiError(f"could not reach {self.base.geturl()}: {exc}") from None
        if response.status >= 300:
            raise HookApiError(_error_message(response))
        return response

    def _json(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return _json_object(self._send(method, path, body, headers).read())


def _seg(value: str) -> str:
    return quote(value, safe="")


def _json_object(data: bytes) -> dict[str, Any]:
    """A body's JSON object; empty for no body, other JSON, or none at all."""
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _error_message(response: http.client.HTTPResponse) -> str:
    """The API's ``{"id", "message"}`` message, else the status."""
    message = _json_object(response.read()).get("message")
    if isinstance(message, str) and message:
        return message
    return f"HTTP {response.status}: {response.reason or 'error'}"
