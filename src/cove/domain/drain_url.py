"""A log drain's URL: which ones Cove accepts, how to reach them, and how to name one
without its credentials (a drain URL may carry a password or a token)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from cove.domain.errors import InvalidParams

SYSLOG_SCHEMES = ("syslog", "syslog+tls")
HTTP_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class DrainUrl:
    scheme: str  # syslog | syslog+tls | http | https
    host: str
    port: int

    @property
    def is_syslog(self) -> bool:
        return self.scheme in SYSLOG_SCHEMES

    @property
    def tls(self) -> bool:
        return self.scheme in ("syslog+tls", "https")

    @property
    def safe(self) -> str:
        """The URL as logs and notices may show it: scheme, host and port only."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"


def parse(url: str) -> DrainUrl:
    """Check a drain URL. Messages never repeat the URL: it may hold credentials."""
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidParams("Url is invalid: give one URL, without spaces, of at most 2048 bytes.")
    if not url.isascii():  # (JSON may even carry lone surrogates, which nothing can store)
        raise InvalidParams(
            "Url is invalid: a URL is ASCII (percent-encode other characters; an "
            "international host name goes in punycode, xn--...)."
        )
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in (*SYSLOG_SCHEMES, *HTTP_SCHEMES):
        raise InvalidParams(
            "Url is invalid: a drain URL starts with syslog://, syslog+tls://, http:// or https://."
        )
    host = parts.hostname
    if not host:
        raise InvalidParams("Url is invalid: it has no host.")
    try:
        port = parts.port
    except ValueError:
        raise InvalidParams("Url is invalid: its port is not a number from 1 to 65535.") from None
    if port is None and scheme in SYSLOG_SCHEMES:
        raise InvalidParams("Url is invalid: a syslog drain needs a port (syslog://host:port).")
    if port == 0:
        raise InvalidParams("Url is invalid: its port is not a number from 1 to 65535.")
    return DrainUrl(scheme, host, port or _DEFAULT_PORTS[scheme])


def safe(url: str) -> str:
    """``url`` without its credentials, path or query, for logs; never raises."""
    try:
        return parse(url).safe
    except InvalidParams:
        return "(an invalid drain URL)"


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        raise InvalidParams("Url is invalid: its host can't be read.") from None
