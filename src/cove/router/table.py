"""The routing table: hostname -> app route, looked up once per request.

Routes are immutable snapshots rebuilt on every mutation, so a request that already holds a
``Route`` keeps a consistent view while the table changes under it. All mutation happens on
the router's event loop, so nothing here locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backend:
    dyno: str  # "web.1"
    host: str  # "127.0.0.1"
    port: int
    # The connection pool's key: a plain tuple hashes in C, the dataclass's hash in Python.
    key: tuple[str, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.host, self.port, self.dyno))


@dataclass(frozen=True)
class Route:
    app: str
    backends: tuple[Backend, ...]
    maintenance: bool


def normalize_host(host_header: str) -> str:
    """``Foo.Localhost.:8080`` -> ``foo.localhost``; ``[::1]:80`` -> ``[::1]``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            return host[: end + 1]
    else:
        head, sep, port = host.rpartition(":")
        if sep and (port.isdigit() or not port):
            host = head
    return host.rstrip(".")


class RouteTable:
    def __init__(self, domain: str) -> None:
        self.domain = normalize_host(domain)
        self._routes: dict[str, Route] = {}  # app -> route
        self._domains: dict[str, set[str]] = {}  # app -> extra hostnames
        self._hosts: dict[str, Route] = {}  # normalized hostname -> route
        # Raw Host header -> normalized host: clients repeat the same few Host headers, so
        # the hot path skips normalisation. Normalisation is pure: never invalidated.
        self._normalized: dict[bytes, str] = {}

    def default_host(self, app: str) -> str:
        return f"{app}.{self.domain}"

    def set_app(self, app: str, *, maintenance: bool = False) -> None:
        """Add an app or update its maintenance flag (its backends are kept)."""
        old = self._routes.get(app)
        backends = old.backends if old is not None else ()
        self._store(Route(app, backends, maintenance))

    def remove_app(self, app: str) -> None:
        self._routes.pop(app, None)
        for host in self._hostnames(app):
            self._hosts.pop(host, None)
        self._domains.pop(app, None)

    def set_backends(self, app: str, backends: Sequence[Backend]) -> None:
        """Replace the app's running web dynos. Unknown apps are added (not in maintenance)."""
        old = self._routes.get(app)
        maintenance = old.maintenance if old is not None else False
        self._store(Route(app, tuple(backends), maintenance))

    def add_domain(self, app: str, hostname: str) -> None:
        """Serve ``app`` at a custom hostname too (the app must have been added)."""
        if app not in self._routes:
            raise KeyError(app)
        host = normalize_host(hostname)
        self._domains.setdefault(app, set()).add(host)
        self._hosts[host] = self._routes[app]

    def remove_domain(self, app: str, hostname: str) -> None:
        host = normalize_host(hostname)
        self._domains.get(app, set()).discard(host)
        route = self._hosts.get(host)
        if route is not None and route.app == app and host != self.default_host(app):
            del self._hosts[host]

    def get(self, app: str) -> Route | None:
        return self._routes.get(app)

    def apps(self) -> list[str]:
        return sorted(self._routes)

    def lookup(self, host_header: str) -> Route | None:
        return self._hosts.get(normalize_host(host_header))

    def resolve(self, host_header: bytes) -> tuple[Route | None, str]:
        """The router's lookup: raw Host header -> (route, normalized hostname)."""
        host = self._normalized.get(host_header)
        if host is None:
            host = normalize_host(host_header.decode("latin-1"))
            if len(self._normalized) < 4096:  # bounded: Host headers are client-controlled
                self._normalized[host_header] = host
        return self._hosts.get(host), host

    def _hostnames(self, app: str) -> list[str]:
        return [self.default_host(app), *self._domains.get(app, ())]

    def _store(self, route: Route) -> None:
        self._routes[route.app] = route
        for host in self._hostnames(route.app):
            self._hosts[host] = route
