"""The composition root: the only module that wires Cove's components together.

``cove server`` runs the API + git endpoint, the router, the dyno manager, the builder and
the log router in one asyncio process; builds and dynos are child processes. With
``--role``, a process runs some of them (api: the API, git, builder, one-off dynos and
add-ons; router; manager: the dyno manager, release phases and drains, under a lease), and
processes sharing a PostgreSQL store run the rest (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from functools import partial
from typing import Any, NoReturn
from urllib.parse import urlsplit

import uvicorn
from sqlalchemy import select
from sqlalchemy.exc import DatabaseError, OperationalError

from cove import recovery, sandbox, tls
from cove.acm.challenges import Http01Challenges
from cove.acm.manager import AcmManager, DeferredIssuer, Issuer
from cove.addons import Registry
from cove.addons.provider import DynoAccess
from cove.api import ApiContext, create_api
from cove.api_listener import ApiGuard
from cove.builder import Builder, remove_slug, slug_path
from cove.builder.layers import Layers
from cove.builder.stack import Stack, discover_stack
from cove.dynos import DynoManager, LocalBackend, ReleasePhase
from cove.dynos.backend import Backend
from cove.dynos.one_off_dynos import OneOffDynos
from cove.dynos.postdeploy import Postdeploy
from cove.dynos.release_phase import RELEASE_OUTPUT_TOPIC, RelayedReleases
from cove.dynos.serving import wait_serving
from cove.gitreceiver import remove_repo
from cove.gitreceiver import router as git_router
from cove.home_check import has_been_used, store_backups
from cove.home_lock import HomeInUse, HomeLock
from cove.limits import Budget, Caps, raise_open_files_limit
from cove.logs import LogRouter
from cove.logs.drains import Drains
from cove.logs.history import LogHistory
from cove.logs.relay import Relay
from cove.metrics import Recorder
from cove.metrics.flusher import Flusher
from cove.quick_exit import quick_exit
from cove.rendezvous import RendezvousListener, rendezvous_caps
from cove.router import Router, RouteTable
from cove.router.feed import RouteFeed
from cove.router.sni import SniFeed
from cove.sandbox import bwrap_path
from cove.sandbox.cgroups import Cgroups
from cove.sandbox.netns import DynoNetworks, NetworkError, Pool
from cove.secrets_key import HELP as SECRETS_KEY_HELP
from cove.secrets_key import open_keyring
from cove.services import accounts, addons
from cove.settings import ROLES, Settings
from cove.store import AddOn, App, Slug, Store
from cove.store.backups import recovery_help
from cove.store.db import SchemaTooNew
from cove.store.leases import Lease
from cove.store.secrets import Keyring, SecretsKeyError
from cove.store.sqlite import StoreDamaged, sqlite_file, verify
from cove.swarm.attach import DialIns
from cove.swarm.backend import SwarmBackend, SwarmUnavailable, cluster_key
from cove.swarm.engine import Engine

log = logging.getLogger("cove")

LOG_TOPIC = "log"  # every app's log lines, relayed between servers of other roles


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _announce(
    settings: Settings,
    admin_token: str | None,
    isolation: sandbox.IsolationReport | None,
    warnings: Sequence[str] = (),
) -> None:
    """Tell the operator how to reach Cove; ``server.json`` is written last: it says the
    server is ready (tests and scripts wait for it)."""
    roles = settings.roles
    print(f"Cove is running (COVE_HOME={settings.home})", flush=True)
    if settings.split:
        print(f"  Roles:       {', '.join(r for r in ROLES if r in roles)}", flush=True)
    if "api" in roles:
        print(f"  API and git: {settings.api_url}", flush=True)
    if "router" in roles:
        print(f"  Apps:        {settings.web_url('<app>')}", flush=True)
    if "api" in roles:
        print(f"  Dashboard:   {settings.api_url}/dashboard/", flush=True)
    ca_file = tls.TlsFiles(settings.tls_dir).ca_cert
    if settings.tls:
        if "router" in roles:
            print(
                f"    and HTTP:  http://<app>.{settings.domain}:{settings.router_port}/",
                flush=True,
            )
        fingerprint = tls.fingerprint(ca_file.read_bytes())
        print(f"  Cove's CA:   {ca_file} (SHA-256 {fingerprint})", flush=True)
    if "api" in roles:
        print(
            f"  cove run:    rendezvous://{settings.api_host}:{settings.rendezvous_port}",
            flush=True,
        )
    if "manager" in roles and settings.dyno_backend == "swarm":
        print(
            f"  Dynos:       Docker Swarm ({settings.swarm_image}, {settings.docker_socket})",
            flush=True,
        )
    for line in isolation.lines() if isolation is not None else ():
        print(f"  {line}", flush=True)
    for line in warnings:
        print(f"  Warning: {line}", flush=True)
    if admin_token:
        token_file = settings.home / "admin-token"
        token_file.write_text(admin_token + "\n")
        token_file.chmod(0o600)
        print("First start: created the admin account " + accounts.ADMIN_EMAIL, flush=True)
        print(f"  Its API token is saved in {token_file}. Log in with:", flush=True)
        print(
            f"    COVE_API_URL={settings.api_url} cove login --token $(cat {token_file})",
            flush=True,
        )
    info = {
        "pid": os.getpid(),
        "roles": sorted(roles),
        "api_url": settings.api_url if "api" in roles else None,
        "router_port": settings.router_port if "router" in roles else None,
        "router_https_port": (
            settings.router_https_port if settings.tls and "router" in roles else None
        ),
        "rendezvous_port": settings.rendezvous_port if "api" in roles else None,
        "ca_file": str(ca_file) if settings.tls else None,
        "domain": settings.domain,
    }
    tmp = settings.home / "server.json.tmp"
    tmp.write_text(json.dumps(info))
    tmp.replace(settings.home / "server.json")


def _connection_caps(settings: Settings) -> tuple[Caps, Caps]:
    """Raise the open files limit and size the router's and the API's connection caps
    from it (cove.limits), with the operator's settings applied."""
    open_files = raise_open_files_limit()
    budget = Budget.for_limit(open_files)
    router = budget.router.override(
        settings.router_max_connections, settings.router_max_connections_per_address
    )
    api = budget.api.override(
        settings.api_max_connections, settings.api_max_connections_per_address
    )
    log.info(
        "open files limit %d: router %d connections (%d per address), API %d (%d per address)",
        open_files,
        router.total,
        router.per_address,
        api.total,
        api.per_address,
    )
    return router, api


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGTERM/SIGINT and shuts
    every component down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Janitor:
    """Removes what a destroyed app leaves on disk: its git repo, build cache, build logs
    and slugs (a slug file another app's row still names is kept: slugs are
    content-addressed)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def sweep(self, app_id: str, payload: dict[str, Any]) -> None:
        remove_repo(self.settings.repos_dir, payload["name"])
        shutil.rmtree(self.settings.cache_dir / app_id, ignore_errors=True)
        for build_id in payload.get("builds", []):
            (self.settings.builds_dir / f"{build_id}.log").unlink(missing_ok=True)
        checksums = payload.get("slugs", [])
        with self.store.session() as s:
            shared = set(s.scalars(select(Slug.checksum).where(Slug.checksum.in_(checksums))))
        for checksum in set(checksums) - shared:
            remove_slug(slug_path(self.settings.slugs_dir, checksum))
        Layers(self.settings.layers_dir, self.settings.cache_dir).forget_app(
            app_id, self.settings.slugs_dir
        )

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        async for event in self.store.watch(cursor):
            if event.kind == "app.destroyed" and event.app_id:
                await asyncio.to_thread(self.sweep, event.app_id, event.payload)


async def _saved_logs(settings: Settings, store: Store, logs: LogRouter) -> LogHistory:
    """Each app's log history as saved before the restart, back in the log router (before
    the API serves), and saved from now on."""
    history = LogHistory(settings.logs_dir)
    with store.session() as s:
        app_ids = set(s.scalars(select(App.id)))
    for app_id, lines in (await asyncio.to_thread(history.load, app_ids)).items():
        logs.restore(app_id, lines)
    logs.add_sink(history.write)
    logs.on_forget(history.forget)
    history.start()
    return history


async def start_addons(store: Store, registry: Registry) -> None:
    """Bring up every add-on's server before any dyno that uses it starts."""
    with store.session() as s:
        rows = list(s.scalars(select(AddOn).where(AddOn.state == addons.PROVISIONED)))
    for provider in registry.providers:
        await provider.start([a.resource for a in rows if a.service == provider.service])


RENEW_EVERY = 12 * 3600.0  # how often a running server looks at its certificate's end


def _certificate_names(settings: Settings) -> list[str]:
    # The API's public URL, and the one swarm nodes fetch slugs at (checked against the CA).
    urls = [settings.public_api_url, settings.swarm_api_url]
    hosts = [urlsplit(url).hostname or "" for url in urls if url]
    return tls.server_names(settings.api_host, settings.domain, [*settings.tls_hostnames, *hosts])


async def _renew_certificates(server_tls: tls.ServerTls, names: list[str]) -> None:
    while True:
        await asyncio.sleep(RENEW_EVERY)
        if await asyncio.to_thread(server_tls.renew, names):
            log.info("issued Cove's server certificate again: it was about to expire")


def _server_tls(settings: Settings, table: RouteTable) -> tls.ServerTls | None:
    """Cove's CA and server certificate (created or issued again as needed) and the
    listeners' SSL context; None with TLS off."""
    if not settings.tls:
        return None
    operator = settings.operator_certificate
    if operator is not None:
        for path in operator:
            if not path.is_file():
                raise OSError(f"COVE_TLS_CERT_FILE/COVE_TLS_KEY_FILE: {path} is not a file")
    files = tls.TlsFiles(settings.tls_dir)
    tls.ensure_server_cert(files, _certificate_names(settings))
    return tls.ServerTls(
        files, settings.domain, operator=operator, is_app=lambda app: table.get(app) is not None
    )


def _dyno_networks(settings: Settings) -> tuple[DynoNetworks | None, str | None]:
    """The dyno networks (set up on this host), or why dynos share the host's network."""
    if settings.network_isolation == "off":
        return None, "turned off by COVE_NETWORK_ISOLATION=off"
    problem = DynoNetworks.unavailable()
    if problem is not None:
        return None, problem
    try:
        pool = Pool.parse(settings.dyno_network)
    except ValueError as exc:
        _refuse(str(exc))
    networks = DynoNetworks(pool, settings.networks_dir)
    try:
        networks.setup()
    except (NetworkError, OSError) as exc:
        log.warning("dyno networks unavailable: %s", exc)
        return None, f"setting up dyno networks failed: {exc}"
    return networks, None


@dataclasses.dataclass
class _Host:
    """What runs processes on this host (builds, local dynos): its users, cgroups, dyno
    networks and stack; set up for the api and manager roles, not for a router."""

    users: sandbox.Users
    cgroups: Cgroups
    networks: DynoNetworks | None
    isolation: sandbox.IsolationReport
    stack: Stack

    @classmethod
    async def setup(cls, settings: Settings, home_key: str) -> _Host:
        bwrap_path()  # fail fast, with the fix in the message, if bubblewrap is missing
        users = sandbox.Users(settings.users_dir)
        cgroups = await asyncio.to_thread(partial(Cgroups.detect, name=f"cove-{home_key}"))
        await asyncio.to_thread(cgroups.sweep)  # dynos of a previous run that died with it
        networks, no_network = await asyncio.to_thread(_dyno_networks, settings)
        isolation = await asyncio.to_thread(sandbox.check, users, cgroups, no_network)
        stack = await asyncio.to_thread(partial(discover_stack, settings, shared=users.enabled))
        return cls(users, cgroups, networks, isolation, stack)

    def local_backend(self, settings: Settings, store: Store) -> LocalBackend:
        return LocalBackend(
            settings.dynos_dir,
            self.stack,
            self.users,
            self.cgroups,
            self.networks,
            partial(addons.local_addon_ports, store),
        )


MANAGER_LEASE = "dyno-manager"


class ManagerRole:
    """The dyno manager, the release phase and log drains: one process at a time runs them,
    the one holding the lease in a PostgreSQL store (others wait to take over). A holder
    that loses the lease (a store it can't reach, say) stops its dynos and waits again. A
    SQLite store has one server (its COVE_HOME's), which needs no lease."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        backend: Backend,
        logs: LogRouter,
        metrics: Recorder,
        release_phase: ReleasePhase,
        drains: Drains,
        lease: Lease | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.backend = backend
        self.logs = logs
        self.metrics = metrics
        self.release_phase = release_phase
        self.drains = drains
        self.lease = lease
        self.manager: DynoManager | None = None  # while holding the lease

    async def run(self) -> None:
        if self.lease is None:  # (a SQLite store: this server is its only one)
            try:
                await self._term()
            finally:
                await self._stop()
            return
        try:
            while True:
                await self._acquire(self.lease)
                log.info("holding the dyno manager's lease: managing dynos")
                try:
                    async with asyncio.TaskGroup() as group:
                        term = group.create_task(self._term())
                        await self.lease.hold()
                        log.warning("lost the dyno manager's lease: stopping this server's dynos")
                        term.cancel()
                finally:
                    await self._stop()
        finally:
            await asyncio.to_thread(self.lease.release)

    @staticmethod
    async def _acquire(lease: Lease) -> None:
        if not await asyncio.to_thread(lease.try_acquire):
            holder = await asyncio.to_thread(lease.holder_now)
            log.info("waiting for the dyno manager's lease (held by %s)", holder)
            await lease.acquire()

    async def _term(self) -> None:
        """One term as the holder: what a previous holder left is cleared, then dynos,
        release phases and drains follow the store."""
        self.manager = DynoManager(self.settings, self.store, self.backend, self.logs, self.metrics)
        # (One-off dynos' rows are the API's: an all-in-one server cleared them at start.)
        await asyncio.to_thread(self.manager.forget_stale_rows, True)
        if isinstance(self.backend, SwarmBackend):
            swept = await self.backend.sweep()
            if swept:
                log.info("removed %d swarm dynos of a previous dyno manager", swept)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.manager.run())
            group.create_task(self.release_phase.run())
            group.create_task(self.drains.run())

    async def _stop(self) -> None:
        await self.release_phase.close()
        if self.manager is not None:
            await self.manager.close()
        await self.drains.close()  # after the dynos: their last lines are queued

    def memory_usage(self, dyno_id: str) -> int | None:
        return self.manager.memory_usage(dyno_id) if self.manager is not None else None


async def serve(settings: Settings, keyring: Keyring) -> None:
    roles = settings.roles
    settings.ensure_dirs()
    # Named after COVE_HOME: two servers on one host never sweep each other's dynos.
    home_key = hashlib.sha256(str(settings.home).encode()).hexdigest()[:12]
    host = await _Host.setup(settings, home_key) if roles & {"api", "manager"} else None
    store = Store(settings.db_url, keyring)
    await asyncio.to_thread(store.migrate)
    admin_token = None
    recovered: list[str] = []
    stale: list[str] = []
    if "api" in roles:
        assert host is not None
        admin_token = await asyncio.to_thread(accounts.ensure_admin, store)
        recovered = await asyncio.to_thread(recovery.sweep_builds, settings, store)
        recovered += await asyncio.to_thread(recovery.settle_deploy_refs, settings, store)
        stale = await asyncio.to_thread(recovery.missing_interpreters, settings, store, host.stack)

    loop = asyncio.get_running_loop()
    logs = LogRouter(settings.log_lines_per_second)
    logs.bind_loop(loop)
    # Roles in other processes: each one's log lines reach every other (cove.logs.relay).
    relay = Relay(store, loop) if settings.split else None
    if relay is not None:
        logs.relay_to(lambda app_id, lines: relay.send(LOG_TOPIC, app_id, lines))
        relay.subscribe(LOG_TOPIC, lambda app_id, lines, _end: logs.receive(app_id, lines))
    history = await _saved_logs(settings, store, logs) if "api" in roles else None
    table = RouteTable(settings.domain)
    feed = RouteFeed(store, table)
    server_tls = await asyncio.to_thread(_server_tls, settings, table)
    metrics = Recorder(feed.app_ids, time.time())
    router_caps, api_caps = _connection_caps(settings)
    flusher = Flusher(metrics, store, settings.metrics_flush_interval)
    tasks: list[Coroutine[Any, Any, None]] = [
        flusher.run(),
        Janitor(settings, store).run(),
        _back_up_periodically(settings),
    ]
    closing: list[Callable[[], Awaitable[None]]] = []  # in this order, at a stop
    if relay is not None:
        tasks.append(relay.run())
    if "api" in roles:  # bound first: the URL the swarm's nodes fetch slugs from has its port
        api_sock = _listen(settings.api_host, settings.api_port)
        settings = settings.with_ports(api_sock.getsockname()[1], settings.router_port)

    router = None
    if "router" in roles:
        router = await _start_router(settings, logs, feed, server_tls, metrics, router_caps)
        challenges = router.acme = Http01Challenges()  # answered by the router's HTTP listener
        settings = settings.with_ports(settings.api_port, router.port, router.tls_port)
        tasks.append(feed.run())
        if server_tls is not None:
            tasks.append(SniFeed(store, server_tls, settings.tls_dir).run())
            tasks.append(_acm_manager(settings, store, challenges).run())

    if server_tls is not None:
        tasks.append(_renew_certificates(server_tls, _certificate_names(settings)))

    holder = f"{socket.gethostname()}:{home_key}"  # (a restarted server takes its own back)
    managing = None
    if "manager" in roles:
        assert host is not None
        backend: Backend = (
            host.local_backend(settings, store)
            if settings.dyno_backend == "local"
            else await _swarm(settings, store)
        )
        lease = Lease(store, MANAGER_LEASE, holder) if store.postgres else None
        managing = ManagerRole(
            settings,
            store,
            backend,
            logs,
            metrics,
            ReleasePhase(settings, store, backend, logs, relay),
            Drains(store, logs, settings.drain_ca_file),
            lease,
        )
        if not settings.split:
            # A one-off dyno created in the API's first moments keeps its row.
            await asyncio.to_thread(DynoManager(settings, store, backend, logs).forget_stale_rows)

    http: _HttpServer | None = None
    api_guard: ApiGuard | None = None
    rendezvous: RendezvousListener | None = None
    registry: Registry | None = None
    if "api" in roles:
        assert host is not None and history is not None
        # (Bound first: attached swarm dynos are told where to call back.)
        rendezvous_sock = _listen(settings.api_host, settings.rendezvous_port)
        settings = dataclasses.replace(settings, rendezvous_port=rendezvous_sock.getsockname()[1])
        dial_ins = DialIns()
        runs = await _runs_backend(settings, store, host, managing, dial_ins, holder)
        one_offs = OneOffDynos(settings, store, runs, logs)
        server_context = server_tls.context if server_tls is not None else None
        rendezvous = RendezvousListener(
            one_offs.claim, rendezvous_caps(api_caps), server_context, dial_ins.answer
        )
        await rendezvous.start_on(rendezvous_sock)
        registry = Registry.default(
            settings.addons_dir,
            loop,
            tls.TlsFiles(settings.tls_dir) if settings.tls else None,
            DynoAccess(host.networks.addon_address, str(host.networks.pool.network))
            if host.networks
            else None,
        )
        recovered += await recovery.reconcile_addons(store, registry)
        await start_addons(store, registry)
        for line in recovered:
            log.info("after a crash: %s", line)
        if managing is not None:
            follow_release = managing.release_phase.follow
        else:
            relayed = RelayedReleases(settings, store)
            assert relay is not None
            relay.subscribe(RELEASE_OUTPUT_TOPIC, relayed.receive)
            follow_release = relayed.follow
        builder = Builder(
            settings,
            store,
            host.stack,
            logs,
            partial(wait_serving, store, timeout=settings.boot_timeout + 5),
            follow_release,
            host.users,
            host.cgroups,
            registry=registry,
            run_postdeploy=Postdeploy(settings, store, runs, logs).run,
        )
        context = ApiContext(
            settings,
            store,
            logs,
            builder,
            follow_release,
            registry,
            dyno_memory=lambda dyno_id: (
                (managing and managing.memory_usage(dyno_id)) or one_offs.memory_usage(dyno_id)
            ),
            one_off_dynos=one_offs,
        )
        api_guard = ApiGuard(api_caps, settings.api_header_timeout, tls=server_context)
        api_guard.start()
        config = uvicorn.Config(
            create_api(context, git_router),
            log_level="warning",
            http=api_guard.protocol(),  # uvicorn's httptools protocol, with caps and a deadline
            ws="none",  # (a protocol switch would take connections out of the guard's count)
            lifespan="off",
            timeout_keep_alive=65,
        )
        http = _HttpServer(config)
        tasks += [one_offs.run(), http.serve(sockets=[api_sock])]
        closing += [builder.close, one_offs.close]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    warnings = [*host.stack.skipped, *stale] if host is not None and "api" in roles else []
    _announce(settings, admin_token, host.isolation if host is not None else None, warnings)
    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(task) for task in tasks]
            managed = group.create_task(managing.run()) if managing is not None else None
            await stop.wait()
            if http is not None:
                http.should_exit = True
            for close in closing:
                await close()
            if managed is not None:  # its dynos stop, its lease is given up
                managed.cancel()
                await asyncio.gather(managed, return_exceptions=True)
            for provider in registry.providers if registry is not None else ():
                await provider.stop()
            await flusher.flush()  # the last, partial window
            if relay is not None:
                await relay.close()  # (after the last lines: the dynos' and the flusher's)
            for task in running:
                task.cancel()
    finally:
        if api_guard is not None:
            api_guard.close()
        if rendezvous is not None:
            await rendezvous.close()
        if router is not None:
            await router.close()
        if history is not None:
            await asyncio.to_thread(history.close)
        if host is not None:
            await asyncio.to_thread(host.cgroups.close)
        await asyncio.to_thread(store.close)
        with contextlib.suppress(OSError):
            (settings.home / "server.json").unlink()


async def _start_router(
    settings: Settings,
    logs: LogRouter,
    feed: RouteFeed,
    server_tls: tls.ServerTls | None,
    metrics: Recorder,
    caps: Caps,
) -> Router:
    """The router's listeners (HTTP, and HTTPS with TLS on), answering ACME's challenges
    on HTTP, its lines in each app's log."""

    def router_log(app: str, line: str) -> None:
        app_id = feed.app_ids.get(app)
        if app_id:
            logs.publish(app_id, "heroku", "router", line)

    router = Router(
        feed.table,
        log=router_log,
        header_timeout=settings.router_header_timeout,
        idle_timeout=settings.router_idle_timeout,
        caps=caps,
        trusted_proxies=settings.router_trusted_proxies,
    )
    router.record = metrics.request
    await router.start(settings.router_host, settings.router_port)
    if server_tls is not None:
        await router.start_tls(settings.router_host, settings.router_https_port, server_tls.context)
    return router


async def _runs_backend(
    settings: Settings,
    store: Store,
    host: _Host,
    managing: ManagerRole | None,
    dial_ins: DialIns,
    owner: str,
) -> Backend:
    """Where this API server runs one-off dynos (`cove run`, app.json's postdeploy): on
    Swarm with the swarm backend, as its own (what its previous run left is removed),
    attached ones calling its rendezvous listener back; else on this host."""
    if settings.dyno_backend != "swarm":
        return host.local_backend(settings, store)
    swarm = (
        managing.backend
        if managing is not None and isinstance(managing.backend, SwarmBackend)
        else await _swarm(settings, store)
    )
    runs = swarm.for_runs(owner, dial_ins, settings.rendezvous_port, settings.boot_timeout)
    if swept := await runs.sweep():
        log.info("removed %d one-off dyno services of this server's previous run", swept)
    return runs


async def _swarm(settings: Settings, store: Store) -> SwarmBackend:
    """The swarm backend, checked (a swarm manager with the stack image). Its nodes fetch
    slugs from this server's API, or with the API elsewhere from COVE_SWARM_API_URL."""
    if not settings.swarm_api_url and "api" not in settings.roles:
        _refuse(
            "COVE_DYNO_BACKEND=swarm without the api role needs COVE_SWARM_API_URL: the URL "
            "of a server with the api role, where the swarm's nodes fetch slugs"
        )
    ca = tls.TlsFiles(settings.tls_dir).ca_cert
    backend = SwarmBackend(
        Engine(settings.docker_socket),
        settings.swarm_image,
        cluster_key(store.keyring),
        settings.swarm_api_url or settings.api_url,
        store.keyring,
        ca_pem=ca.read_text() if settings.tls else "",
        stop_grace=settings.stop_grace,
    )
    try:
        await backend.prepare()
    except SwarmUnavailable as exc:
        _refuse(f"COVE_DYNO_BACKEND=swarm: {exc}")
    return backend


def _acm_manager(settings: Settings, store: Store, challenges: Http01Challenges) -> AcmManager:
    """Certificates for the custom domains of apps with ACM on (certs:auto)."""

    def issuer() -> Issuer:
        from cove.acm.issuer import AcmeIssuer

        return AcmeIssuer(
            settings.acme_directory_url,
            settings.acme_ca_file,
            settings.acme_dir,
            challenges,
            settings.acme_issue_timeout,
        )

    return AcmManager(store, DeferredIssuer(issuer), settings.acme_check_interval)


def _refuse(message: str) -> NoReturn:
    print(f"cove server: {message}", file=sys.stderr)
    sys.exit(1)


def _hold_home(settings: Settings) -> HomeLock:
    """Before anything touches state: hold COVE_HOME (one server per home: a second one
    would start every dyno again), check that the store is sound and back it up."""
    try:
        lock = HomeLock.acquire(settings.home)
    except HomeInUse as exc:
        _refuse(f"{exc}. Stop it first, or give this one another COVE_HOME.")
    db = sqlite_file(settings.db_url)
    if db is None:
        return lock
    backups = store_backups(settings)
    try:
        if not db.exists() and has_been_used(settings):
            raise StoreDamaged(db, "the file is missing")
        verify(db, expect_data=has_been_used(settings))
        if db.exists():
            _check_schema(settings)  # a store this Cove can't run is not worth a backup
            backups.take(db)
    except StoreDamaged as damage:
        _refuse(recovery_help(damage, backups))
    except SchemaTooNew as exc:
        _refuse(str(exc))
    return lock


def _secrets_keyring(settings: Settings) -> Keyring:
    """The key the store's secrets are encrypted with (made at the first start)."""
    try:
        return open_keyring(settings, create=True)
    except SecretsKeyError as exc:
        _refuse(f"{exc}. Nothing was started.\n{SECRETS_KEY_HELP}")


def _check_schema(settings: Settings) -> None:
    store = Store(settings.db_url)
    try:
        store.migration_state()
    finally:
        store.engine.dispose()


def store_failure(exc: BaseException, settings: Settings) -> str:
    """What to say when the store fails after the start-up check passed: damage the check
    could not see (a page read only later) gets the recovery steps; a locked or unreadable
    store (an operational error) is not damage, and restoring a backup would not help."""
    reason = str(getattr(exc, "orig", exc))  # the driver's own message, without the SQL
    db = sqlite_file(settings.db_url)
    if db is None or isinstance(exc, OperationalError):
        return f"the store could not be used: {reason}"
    return recovery_help(StoreDamaged(db, reason), store_backups(settings))


async def _back_up_periodically(settings: Settings) -> None:
    db = sqlite_file(settings.db_url)
    if db is not None:
        await store_backups(settings).run(db, settings.store_backup_interval)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # httpx logs every request's URL at INFO: a drain's URL may hold a password or a token
    # (and a build's source URL is a capability), and an HTTP drain POSTs many times a second.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    try:
        settings = Settings.from_env()
    except ValueError as bad:  # a COVE_* setting out of its range: its message names it
        _refuse(str(bad))
    if settings.split and sqlite_file(settings.db_url) is not None:
        _refuse(
            "--role runs part of Cove, with the rest in other servers sharing its store: "
            "that needs a PostgreSQL store (COVE_DATABASE_URL=postgresql://...), not SQLite"
        )
    # Everything the server creates is private to it: COVE_HOME is traversable (0711, for
    # the add-on servers' user), so files must not be readable by name.
    os.umask(0o077)
    lock = _hold_home(settings)
    try:
        keyring = _secrets_keyring(settings)
        asyncio.run(serve(settings, keyring))
    except* OSError as group:
        for exc in group.exceptions:
            print(f"cove server: {exc}", file=sys.stderr)
        sys.exit(1)
    except* SchemaTooNew as group:
        _refuse(str(group.exceptions[0]))
    except* DatabaseError as group:
        _refuse(store_failure(group.exceptions[0], settings))
    finally:
        lock.release()


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:
        quick_exit(stop.code)
    quick_exit(0)
