"""The routing table: hostname -> app route, looked up once per request.

Routes are immutable snapshots rebuilt on every mutation, so a request that already holds a
``Route`` keeps a consistent view while the table changes under it. All mutation happens on
the router's event loop, so nothing here locks.

Requests that must wait for a route to change (an app whose web dynos are booting) wait on
:meth:`RouteTable.changed`: one event per app, set and replaced by the next mutation.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field


class WebState(enum.Enum):
    """What the router makes of an app's web process when it has no backend to use."""

    UP = "up"  # at least one web dyno is up (the route has backends)
    STARTING = "starting"  # web dynos wanted and on their way: hold requests (then H20)
    CRASHED = "crashed"  # web dynos wanted, every one of them crashed: H10
    NONE = "none"  # no web process (scaled to 0, no web type, nothing released): H14


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
    # Always UP with backends and never UP without: the constructor enforces it.
    state: WebState = WebState.NONE

    def __post_init__(self) -> None:
        if self.backends:
            if self.state is not WebState.UP:
                object.__setattr__(self, "state", WebState.UP)
        elif self.state is WebState.UP:
            object.__setattr__(self, "state", WebState.NONE)


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
        self._changed: dict[str, asyncio.Event] = {}  # app -> set at its next mutation

    def default_host(self, app: str) -> str:
        return f"{app}.{self.domain}"

    def set_app(self, app: str, *, maintenance: bool = False) -> None:
        """Add an app or update its maintenance flag (its backends and state are kept)."""
        old = self._routes.get(app)
        if old is None:
            self._store(Route(app, (), maintenance))
        else:
            self._store(Route(app, old.backends, maintenance, old.state))

    def remove_app(self, app: str) -> None:
        self._routes.pop(app, None)
        for host in self._hostnames(app):
            self._hosts.pop(host, None)
        self._domains.pop(app, None)
        self._signal(app)

    def set_backends(
        self, app: str, backends: Sequence[Backend], *, state: WebState | None = None
    ) -> None:
        """Replace the app's up web dynos, and say what to do while there are none.

        With backends the state is always ``UP``; without, ``state`` (default ``NONE``)
        picks H14, H10 or holding requests until a dyno is up. Unknown apps are added (not
        in maintenance). Requests waiting on :meth:`changed` for the app are woken.
        """
        old = self._routes.get(app)
        maintenance = old.maintenance if old is not None else False
        self._store(Route(app, tuple(backends), maintenance, state or WebState.NONE))

    def changed(self, app: str) -> asyncio.Event:
        """An event set by the app's next mutation (``set_app``, ``set_backends``,
        ``remove_app``). Each mutation sets the current event and starts a fresh one, so
        wait on it, then look the route up again."""
        event = self._changed.get(app)
        if event is None:
            event = self._changed[app] = asyncio.Event()
        return event

    def add_domain(self, app: str, hostname: str) -> None:
        """Serve ``app`` at a custom hostname too (the app must have been added)."""
        if app not in self._routes:
            raise KeyError(app)
        host = normalize_host(hostname)
        self._domains.setdefault(app, set()).add(host)
        self._hosts[host] = self._routes[app]

    def set_domains(self, app: str, hostnames: Sequence[str]) -> None:
        """Serve ``app`` at exactly these custom hostnames (``*.example.com`` wildcards
        match one label); hostnames it had before and not now stop routing to it."""
        wanted = {normalize_host(h) for h in hostnames}
        for host in self._domains.get(app, set()) - wanted:
            self.remove_domain(app, host)
        for host in wanted:
            self.add_domain(app, host)

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
        return self._find(normalize_host(host_header))

    def _find(self, host: str) -> Route | None:
        """An exact hostname first, else a wildcard one label up (``*.example.com``)."""
        route = self._hosts.get(host)
        if route is None and "." in host:
            route = self._hosts.get("*." + host.partition(".")[2])
        return route

    def resolve(self, host_header: bytes) -> tuple[Route | None, str]:
        """The router's lookup: raw Host header -> (route, normalized hostname)."""
        host = self._normalized.get(host_header)
        if host is None:
            host = normalize_host(host_header.decode("latin-1"))
            if len(self._normalized) < 4096:  # bounded: Host headers are client-controlled
                self._normalized[host_header] = host
        return self._find(host), host

    def _hostnames(self, app: str) -> list[str]:
        return [self.default_host(app), *self._domains.get(app, ())]

    def _store(self, route: Route) -> None:
        self._routes[route.app] = route
        for host in self._hostnames(route.app):
            self._hosts[host] = route
        self._signal(route.app)

    def _signal(self, app: str) -> None:
        event = self._changed.pop(app, None)
        if event is not None:
            event.set()
