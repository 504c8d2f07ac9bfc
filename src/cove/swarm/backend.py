"""The swarm backend: each dyno is a Docker Swarm service of one task, running the stack
image's slug runner (cove.swarm.stack_image), which fetches the dyno's slug from Cove.

One service per dyno, not one per process type (docs/decisions.md): Cove's dyno manager
already names dynos (``web.1``), replaces them start-first for zero-downtime deploys, and
restarts crashed ones with Heroku's back-off; a service per dyno leaves Swarm only the
placement, and each dyno's logs and exit status stay its own. So the services have no
restart policy (a second one would fight Cove's), and a dyno that ends stays ended.

Dynos use their node's network (``host``): the router reaches ``$PORT`` at the node's
address. They run on any node labelled with the stack image's id (``cove-stack``, as the
image is not in a registry): Cove labels the node it talks to; the operator loads the image
on other nodes and labels them (docs/scaling.md).

Signals: a dyno on the node Cove talks to gets them through that daemon, on its container.
Swarm's API can't signal a container on another node, so there Cove asks Swarm to stop the
task (the service scaled to 0: SIGTERM, SIGKILL after the service's grace) or to remove it;
Swarm then forgets the task, and with it the exit status of a stop Cove asked for.

An attached one-off dyno (``cove run``) calls Cove back: its stack image's ``dyno-attach``
connects to the rendezvous listener and carries the command's terminal
(cove.swarm.attach), on any node. Its signals go as above, its SIGHUP over that link."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cove.builder.slug import LEGACY_SUFFIX, SUFFIX
from cove.domain.dyno_sizes import dyno_size
from cove.dynos.backend import Attach, DynoSpec, Terminal
from cove.logs import ProcessOutput
from cove.ports import accepts, free_port
from cove.sandbox.cgroups import Cgroup, memory_cgroup_of
from cove.store.digests import signature
from cove.store.secrets import Keyring
from cove.swarm import slug_urls
from cove.swarm.attach import DialIns, SwarmTerminal
from cove.swarm.engine import Engine, EngineError
from cove.swarm.stack_image import RUNNER_IN_IMAGE, SLUG_CACHE_IN_IMAGE

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
LABEL_CLUSTER = "cove.cluster"
LABEL_DYNO = "cove.dyno"
# The API server whose `cove run` dynos a service runs (the dyno manager's sweep leaves
# them alone; each API server sweeps its own).
LABEL_RUNS = "cove.runs"
# The node label that places dynos: its value is the stack image's id (12 hex digits).
LABEL_STACK = "cove-stack"
# The exit status reported for a dyno on another node that Cove stopped: Swarm removes the
# task before its status can be read, so the status of a process ended by SIGTERM.
STOPPED_STATUS = 143
# Each node's slug cache: a named volume, which Docker makes on a node at its first use.
SLUG_CACHE_VOLUME = "cove-slug-cache"
# How often a dyno's task state is read, and how long its output may stay quiet after it
# ended before its log is closed (the service's log stream itself never ends).
POLL_SECONDS = 0.1
DRAIN_QUIET_SECONDS = 0.3
DRAIN_MAX_SECONDS = 3.0
_ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
# Swarm limits service names to 63 characters of letters, digits and dashes.
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")


class SwarmUnavailable(RuntimeError):
    """The swarm backend can't run dynos here (the message says why and what to do)."""


def _latest(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A service's newest task (a one-task service has had one, unless Swarm replaced it)."""
    return max(tasks, key=lambda t: t.get("CreatedAt", ""), default=None)


def cluster_key(keyring: Keyring) -> str:
    """What labels this Cove's services: the same for every server sharing its store (and
    so its secrets key), so a dyno manager taking over finds its predecessor's dynos."""
    return signature(keyring, b"cove:swarm-cluster:v1", "")[:12]


def stack_id(image: dict[str, Any]) -> str:
    """The stack image's short id: the value of the node label that places dynos."""
    return str(image.get("Id", "")).removeprefix("sha256:")[:12]


def service_name(cluster_key: str, spec: DynoSpec) -> str:
    dyno = _NAME_UNSAFE.sub("-", spec.name)
    return f"cove-{cluster_key[:6]}-{spec.app_name}-{dyno}-{spec.id[:8]}"[:63].rstrip("-")


def slug_name(spec: DynoSpec) -> str:
    name = spec.slug.name
    if not (name.endswith(SUFFIX) or name.endswith(LEGACY_SUFFIX)):
        raise ValueError(f"not a slug archive: {name}")
    return name


class SwarmDyno:
    terminal: Terminal | None = None

    def __init__(
        self,
        engine: Engine,
        spec: DynoSpec,
        service_id: str,
        port: int | None,
        output: ProcessOutput | None,
        on_system: Callable[[str], None],
        local_node: str = "",
    ) -> None:
        self.spec = spec
        self.host = ""  # the node's address, once the task runs there
        self.port = port
        self._engine = engine
        self._service = service_id
        self._on_system = on_system
        self._container: str | None = None
        self._local_node = local_node
        self._node: str | None = None  # the task's node, once Swarm has placed it
        self._seen_task = False
        self._stop_asked = False  # of Swarm, for a dyno on another node
        self._link: SwarmTerminal | None = None  # an attached dyno's call back
        # The container's memory cgroup, for a dyno on this host's node, for R14; and
        # whether the kernel killed it at its limit (R15), read at exit.
        self._cgroup: Cgroup | None = None
        self._oom_killed = False
        loop = asyncio.get_running_loop()
        self._last_output = loop.time()
        self._running = asyncio.Event()
        self._pump = loop.create_task(self._read(output)) if output else None
        self._exited = loop.create_task(self._watch())

    async def _read(self, output: ProcessOutput) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for chunk in self._engine.service_logs(self._service):
                self._last_output = loop.time()
                pause = output.write(chunk)
                if pause:
                    await asyncio.sleep(pause)
        except EngineError as exc:
            log.warning("logs of dyno %s: %s", self.spec.id, exc)
        finally:
            output.close()

    async def _watch(self) -> int:
        status = await self._task_end()
        if self._pump is not None:  # its last lines, before the exit is reported
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DRAIN_MAX_SECONDS
            while loop.time() < deadline and loop.time() - self._last_output < DRAIN_QUIET_SECONDS:
                await asyncio.sleep(DRAIN_QUIET_SECONDS / 3)
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        with contextlib.suppress(EngineError):
            await self._engine.remove_service(self._service)
        return status

    async def _task_end(self) -> int:
        """Follow the service's task until it ends; its container's exit status."""
        while True:
            try:
                tasks = await self._engine.tasks(self._service)
            except EngineError as exc:
                if exc.status == 404:
                    return 137  # the service was removed under us
                # Docker unreachable or failing says nothing of the task: ask again. (Read
                # as "no task", it crashed a dyno that was serving while dockerd restarted.)
                log.warning("tasks of dyno %s: %s", self.spec.id, exc)
                await asyncio.sleep(POLL_SECONDS)
                continue
            task = _latest(tasks)
            if task is None and self._seen_task:  # Swarm stopped and forgot it
                return STOPPED_STATUS if self._stop_asked else 137
            if task is not None:
                self._seen_task = True
                self._note(task)
                status = task.get("Status", {})
                state = status.get("State", "")
                container = status.get("ContainerStatus", {})
                if state == "running" and not self._running.is_set():
                    self.host = await self._node_address(self._node or "")
                    # Its pid is a pid of its node: only this host's can be looked up here.
                    pid = int(container.get("PID") or 0) if self._on_local_node() else 0
                    self._cgroup = memory_cgroup_of(pid, self.spec.id) if pid else None
                    self._running.set()
                if state in _ENDED:
                    if state in ("rejected", "orphaned") or not self._container:
                        self._on_system(f"Swarm could not run the dyno: {status.get('Err')}")
                        return 1
                    self._oom_killed = await self._was_oom_killed()
                    code = int(container.get("ExitCode", 0))
                    return code if code >= 0 else 137
            await asyncio.sleep(POLL_SECONDS)

    def _note(self, task: dict[str, Any]) -> None:
        """The task's node and container, once Swarm has them."""
        self._node = task.get("NodeID") or self._node
        found = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
        self._container = str(found) if found else self._container

    def _on_local_node(self) -> bool:
        return self._node is not None and self._node == self._local_node

    async def _was_oom_killed(self) -> bool:
        if not self._on_local_node():
            return False
        try:
            found = await self._engine.call("GET", f"/containers/{self._container}/json")
        except EngineError:
            return False
        return bool(found.get("State", {}).get("OOMKilled"))

    async def _node_address(self, node_id: str) -> str:
        try:
            node = await self._engine.node(node_id)
        except EngineError:
            return "127.0.0.1"
        return str(node.get("Status", {}).get("Addr") or "127.0.0.1")

    def attached(self, terminal: SwarmTerminal) -> None:
        self.terminal = self._link = terminal

    def has_exited(self) -> bool:
        return self._exited.done()

    def left_running(self) -> int:
        return 0

    async def wait_exit(self) -> int:
        return await asyncio.shield(self._exited)

    async def wait_up(self, timeout: float) -> bool:
        """Up once the task runs and, for a web dyno, $PORT accepts connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        running = asyncio.ensure_future(self._running.wait())
        try:
            await asyncio.wait(
                {running, self._exited}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            running.cancel()
        if not self._running.is_set():
            return False
        if self.port is None:
            return not self._exited.done()
        while loop.time() < deadline and not self._exited.done():
            if await accepts(self.host, self.port):
                return True
            await asyncio.wait({self._exited}, timeout=0.02)
        return False

    def _signal(self, name: str) -> None:
        if self._exited.done():
            return
        asyncio.get_running_loop().create_task(self._send(name)).add_done_callback(_log_failure)

    async def _send(self, name: str) -> None:
        # The container may run before the task poll has seen it (its output can come
        # first): its id is asked for now rather than the signal lost.
        if not self._container:
            task = _latest(await self._engine.tasks(self._service))
            if task is not None:
                self._note(task)
        if self._container and self._on_local_node():
            path = f"/containers/{self._container}/kill"
            await self._engine.call("POST", path, params={"signal": name})
        elif name == "KILL" or not self._container:
            # Not started yet, or on another node: the service goes, and its task with it.
            self._stop_asked = True
            await self._engine.remove_service(self._service)
        elif name == "TERM":
            self._stop_asked = True
            await self._engine.scale_service(self._service, 0)
        else:
            log.info("dyno %s runs on another node: SIGHUP not sent", self.spec.id)

    def terminate(self) -> None:
        self._signal("TERM")

    def kill(self) -> None:
        self._signal("KILL")

    def hangup(self) -> None:
        if self._link is not None:  # (on any node)
            self._link.hang_up()
        else:
            self._signal("HUP")

    def memory_usage(self) -> int | None:
        if self._exited.done() or self._cgroup is None:
            return None
        return self._cgroup.memory_usage()

    def oom_kills(self) -> int:
        if self._exited.done() or self._cgroup is None:
            return int(self._oom_killed)
        return self._cgroup.oom_kills()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("signalling a swarm dyno failed: %s", task.exception())


class SwarmBackend:
    """Dynos as Swarm services on the Docker daemon at ``engine``; slugs fetched from
    ``api_url`` (what the nodes reach Cove's API at) with URLs signed by ``keyring``."""

    def __init__(
        self,
        engine: Engine,
        image: str,
        cluster_key: str,
        api_url: str,
        keyring: Keyring,
        ca_pem: str = "",
        stop_grace: float = 30.0,
    ) -> None:
        self.engine = engine
        self.image = image
        self.cluster_key = cluster_key
        self.api_url = api_url
        self.keyring = keyring
        self.ca_pem = ca_pem
        self.stop_grace = stop_grace
        self._node_id = ""
        self._stack_id = ""
        self._host_network = "host"
        # For the API server's one-off dynos (for_runs): its label, and where attached ones
        # call back to.
        self.runs_owner = ""
        self.dial_ins: DialIns | None = None
        self.rendezvous = ""
        self.attach_timeout = 60.0

    def for_runs(
        self, owner: str, dial_ins: DialIns, rendezvous_port: int, attach_timeout: float
    ) -> SwarmBackend:
        """This swarm for an API server's one-off dynos (``cove run``): their services
        carry its label, and attached ones call its rendezvous listener back (on the host
        of ``api_url``, as the nodes reach it)."""
        runs = copy.copy(self)
        host = urlsplit(self.api_url).hostname or "127.0.0.1"
        runs.runs_owner = owner
        runs.dial_ins = dial_ins
        runs.rendezvous = (
            f"[{host}]:{rendezvous_port}" if ":" in host else f"{host}:{rendezvous_port}"
        )
        runs.attach_timeout = attach_timeout
        return runs

    async def prepare(self) -> None:
        """Check that the daemon is a swarm manager with the stack image; raises
        SwarmUnavailable saying what to do otherwise."""
        try:
            info = await self.engine.info()
        except EngineError as exc:
            raise SwarmUnavailable(f"{exc} (COVE_DOCKER_SOCKET)") from None
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise SwarmUnavailable(
                f"the Docker daemon at {self.engine.socket_path} is not a swarm manager "
                "(docker swarm init)"
            )
        image = await self.engine.image(self.image)
        if image is None:
            raise SwarmUnavailable(
                f"the stack image {self.image} is not on this node: build it with "
                "`cove stack:build` (COVE_SWARM_IMAGE names another)"
            )
        self._node_id = str(swarm.get("NodeID", ""))
        self._stack_id = stack_id(image)
        try:
            await self.engine.label_node(self._node_id, LABEL_STACK, self._stack_id)
        except EngineError as exc:
            raise SwarmUnavailable(f"labelling this node for dynos failed: {exc}") from None
        self._host_network = await self.engine.network_id("host") or "host"

    async def sweep(self) -> int:
        """Remove the services of a previous dyno manager (this server's previous run, or
        the holder of the lease before this one): their dynos are started afresh, as local
        dynos are after a restart. For one-off dynos (``for_runs``): those of this API
        server's previous run. Returns how many."""
        found = [
            service
            for service in await self.engine.services(f"{LABEL_CLUSTER}={self.cluster_key}")
            if service.get("Spec", {}).get("Labels", {}).get(LABEL_RUNS, "") == self.runs_owner
        ]
        for service in found:
            await self.engine.remove_service(service["ID"])
        return len(found)

    def service_spec(
        self, spec: DynoSpec, port: int | None, attach_env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        size = dyno_size(spec.size)
        name = slug_name(spec)
        env = {
            "PATH": DEFAULT_PATH,
            **spec.config,
            "HOME": "/app",
            "DYNO": spec.name,
            "DYNO_RAM": str(size.memory_mb),
            **({"PORT": str(port)} if port is not None else {}),
            "COVE_SLUG_NAME": name,
            "COVE_SLUG_URL": slug_urls.signed_url(self.api_url, self.keyring, name),
            "COVE_COMMAND": spec.command,
            **({"COVE_UID": str(spec.uid)} if spec.uid is not None else {}),
            **({"COVE_CA_PEM": self.ca_pem} if self.ca_pem else {}),
            **(attach_env or {}),
        }
        labels = {LABEL_CLUSTER: self.cluster_key, LABEL_DYNO: spec.id}
        if self.runs_owner:
            labels[LABEL_RUNS] = self.runs_owner
        return {
            "Name": service_name(self.cluster_key, spec),
            "Labels": labels,
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": self.image,
                    "Command": ["/usr/bin/tini", "-g", "--", RUNNER_IN_IMAGE],
                    "Env": [f"{k}={v}" for k, v in env.items()],
                    "Hostname": spec.id,
                    "StopGracePeriod": int((self.stop_grace + 5) * 1e9),
                    "Mounts": [
                        {
                            "Type": "volume",
                            "Source": SLUG_CACHE_VOLUME,
                            "Target": SLUG_CACHE_IN_IMAGE,
                        }
                    ],
                    "Labels": labels,
                },
                "Resources": {
                    "Limits": {"MemoryBytes": size.kill_bytes, "Pids": size.pids},
                },
                "RestartPolicy": {"Condition": "none"},
                "Placement": {"Constraints": [f"node.labels.{LABEL_STACK} == {self._stack_id}"]},
                "Networks": [{"Target": self._host_network}],
            },
            "Mode": {"Replicated": {"Replicas": 1}},
        }

    async def start(
        self,
        spec: DynoSpec,
        output: ProcessOutput | None,
        on_system: Callable[[str], None] | None = None,
    ) -> SwarmDyno:
        on_system = on_system or (lambda message: None)
        if spec.attach is not None:
            return await self._start_attached(spec, spec.attach, on_system)
        port = free_port() if spec.type == "web" else None
        service = await self.engine.create_service(self.service_spec(spec, port))
        return SwarmDyno(
            self.engine, spec, service, port, output, on_system, local_node=self._node_id
        )

    async def _start_attached(
        self, spec: DynoSpec, attach: Attach, on_system: Callable[[str], None]
    ) -> SwarmDyno:
        """Start the dyno and wait for it to call back; raises if it doesn't in time."""
        if self.dial_ins is None:
            raise RuntimeError("attached dynos run only on a server with the api role")
        secret = secrets.token_urlsafe(32)
        link = self.dial_ins.expect(secret)
        env = {
            "COVE_ATTACH_ADDRESS": self.rendezvous,
            "COVE_ATTACH_SECRET": secret,
            "COVE_ATTACH_TTY": "1" if attach.tty else "0",
            "COVE_ATTACH_SIZE": f"{attach.columns}x{attach.lines}",
        }
        try:
            service = await self.engine.create_service(self.service_spec(spec, None, env))
            dyno = SwarmDyno(self.engine, spec, service, None, None, on_system, self._node_id)
            exited = asyncio.ensure_future(dyno.wait_exit())
            either: set[asyncio.Future[Any]] = {link, exited}
            await asyncio.wait(either, timeout=self.attach_timeout, return_when="FIRST_COMPLETED")
            exited.cancel()
        finally:
            self.dial_ins.forget(secret)  # (nothing left to forget once it called)
        if link.done() and not link.cancelled():
            dyno.attached(SwarmTerminal(attach.tty, link.result()))
            return dyno
        dyno.kill()
        if dyno.has_exited():
            raise RuntimeError(f"it exited with status {await dyno.wait_exit()} before attaching")
        raise RuntimeError(f"it did not attach within {self.attach_timeout:g} s")
