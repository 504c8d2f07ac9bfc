"""The dyno backends' shared contract (cove.dynos.backend), run against each: the local
backend (sandboxes on this host) and the swarm backend (Docker Swarm services). Both are
driven directly, without a server: a slug on disk, a dyno spec, the handle's answers."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cove import sandbox
from cove.builder.stack import discover_stack
from cove.domain.dyno_sizes import dyno_size
from cove.dynos.backend import Backend, DynoHandle, DynoSpec, stop_dyno
from cove.dynos.local import LocalBackend
from cove.logs import LogRouter
from cove.logs.router import LogFilter
from cove.sandbox.cgroups import Cgroups
from cove.settings import Settings
from cove.store.secrets import Keyring
from cove.swarm.backend import SwarmBackend
from cove.swarm.engine import Engine
from tests.e2e.docker_swarm import Swarm

APP = "contract-app"
# The web process serves what it saw at start: its dyno name, a config var, a variable
# its .profile.d script exported, and where it runs (Debian's python3 is in both stacks).
WEB = (
    'echo "starting $DYNO"; mkdir -p www && '
    'echo "$DYNO $GREETING $FROM_PROFILE $HOME $(pwd)" > www/index.html && '
    "cd www && exec python3 -m http.server $PORT"
)


@dataclass
class Subject:
    backend: Backend
    slug: Path


def _make_slug(slugs_dir: Path) -> Path:
    """A slug archive: a .profile.d script and nothing else the commands need."""
    app = slugs_dir.parent / "slug-src"
    (app / ".profile.d").mkdir(parents=True)
    (app / ".profile.d" / "contract.sh").write_text('export FROM_PROFILE="profiled"\n')
    slugs_dir.mkdir(parents=True, exist_ok=True)
    archive = slugs_dir / "building.tar.zst"
    subprocess.run(["tar", "--zstd", "-cf", str(archive), "-C", str(app), "."], check=True)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    return archive.rename(slugs_dir / f"{digest}.tar.zst")


@pytest.fixture
def local_subject(tmp_path: Path) -> Iterator[Subject]:
    settings = Settings(home=tmp_path / "home", python_dirs=(Path("/usr/bin"),))
    settings.ensure_dirs()
    stack = discover_stack(settings, shared=False)
    cgroups = Cgroups.detect(name=f"cove-contract-{uuid.uuid4().hex[:8]}")
    backend = LocalBackend(settings.dynos_dir, stack, sandbox.Users(settings.users_dir), cgroups)
    try:
        yield Subject(backend, _make_slug(settings.slugs_dir))
    finally:
        cgroups.close()


class _SlugFiles(http.server.SimpleHTTPRequestHandler):
    """The slugs directory at /slug-downloads/ (the contract is the backend's, not the
    signed URL's: that has its own tests)."""

    def translate_path(self, path: str) -> str:
        name = path.split("?", 1)[0].rsplit("/", 1)[-1]
        return str(Path(self.directory) / name)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def swarm_subject(swarm: Swarm, tmp_path: Path) -> Iterator[Subject]:
    slug = _make_slug(tmp_path / "slugs")
    handler = lambda *a: _SlugFiles(*a, directory=str(slug.parent))  # noqa: E731
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    engine = Engine(swarm.socket)
    backend = SwarmBackend(
        engine,
        swarm.image,
        uuid.uuid4().hex[:12],
        f"http://127.0.0.1:{files.server_address[1]}",
        Keyring.generate(),
        stop_grace=5,
    )
    try:
        yield Subject(backend, slug)
    finally:
        files.shutdown()


@pytest.fixture(params=["local", "swarm"])
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.getfixturevalue(f"{request.param}_subject")  # type: ignore[no-any-return]


def _spec(subject: Subject, name: str, command: str) -> DynoSpec:
    return DynoSpec(
        id=uuid.uuid4().hex,
        app_id="contract-app-id",
        app_name=APP,
        name=name,
        type=name.split(".")[0],
        command=command,
        size="standard-1x",
        release_version=1,
        revision="r1",
        slug=subject.slug,
        config={"GREETING": "hello"},
    )


@asynccontextmanager
async def dyno(
    subject: Subject, name: str, command: str
) -> AsyncIterator[tuple[DynoHandle, LogRouter]]:
    """A started dyno and the log router its output goes to; stopped afterwards."""
    if isinstance(subject.backend, SwarmBackend):
        await subject.backend.prepare()
    logs = LogRouter()
    logs.bind_loop(asyncio.get_running_loop())
    spec = _spec(subject, name, command)
    handle = await subject.backend.start(spec, logs.process_output(spec.app_id, spec.name))
    try:
        yield handle, logs
    finally:
        handle.kill()
        await asyncio.wait_for(handle.wait_exit(), 60)


def lines(logs: LogRouter) -> list[str]:
    return logs.recent("contract-app-id", 100, LogFilter())


async def until(condition: Any, what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_web_dyno_serves_port_with_its_environment(subject: Subject) -> None:
    async def scenario() -> None:
        async with dyno(subject, "web.1", WEB) as (handle, logs):
            assert await handle.wait_up(60)
            assert handle.port is not None
            async with httpx.AsyncClient() as client:
                page = await client.get(f"http://{handle.host}:{handle.port}/")
            assert page.text.split() == ["web.1", "hello", "profiled", "/app", "/app"]
            assert any("app[web.1]: starting web.1" in line for line in lines(logs))

    asyncio.run(scenario())


def test_an_exit_status_is_reported_after_the_last_output(subject: Subject) -> None:
    async def scenario() -> None:
        async with dyno(subject, "worker.1", "echo working; echo 'last words'; exit 3") as (
            handle,
            logs,
        ):
            assert await asyncio.wait_for(handle.wait_exit(), 60) == 3
            assert handle.has_exited()
            assert any(line.endswith("app[worker.1]: last words") for line in lines(logs))

    asyncio.run(scenario())


def test_terminate_sends_sigterm_to_the_command(subject: Subject) -> None:
    command = "trap 'echo got SIGTERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"

    async def scenario() -> None:
        async with dyno(subject, "worker.1", command) as (handle, logs):
            assert await handle.wait_up(60)
            await until(lambda: any(x.endswith(": ready") for x in lines(logs)), "ready")
            assert await stop_dyno(handle, grace=30) == 0
            assert any(line.endswith("app[worker.1]: got SIGTERM") for line in lines(logs))

    asyncio.run(scenario())


def test_a_dyno_that_ignores_sigterm_is_killed_after_the_grace(subject: Subject) -> None:
    command = "trap '' TERM; echo stubborn; while true; do sleep 0.1; done"
    killed: list[bool] = []

    async def scenario() -> None:
        async with dyno(subject, "worker.1", command) as (handle, logs):
            await until(lambda: any(x.endswith(": stubborn") for x in lines(logs)), "start")
            status = await stop_dyno(handle, grace=1, on_kill=lambda: killed.append(True))
            assert status == 137
            assert killed == [True]

    asyncio.run(scenario())


def test_a_web_dyno_that_never_binds_port_is_not_up(subject: Subject) -> None:
    async def scenario() -> None:
        async with dyno(subject, "web.1", "echo not listening; exit 1") as (handle, _):
            assert not await handle.wait_up(60)
            assert await handle.wait_exit() == 1

    asyncio.run(scenario())


def test_a_command_finishes_its_graceful_shutdown_before_the_dyno_ends(subject: Subject) -> None:
    """The shell that runs the command outlives its SIGTERM: a server finishing its last
    requests (here, a second's work) is not cut short by the dyno ending under it."""
    command = (
        "python3 -c 'import signal, sys, time\n"
        "def drain(*_):\n"
        '    time.sleep(1); print("drained", flush=True); sys.exit(0)\n'
        "signal.signal(signal.SIGTERM, drain)\n"
        'print("ready", flush=True)\n'
        "time.sleep(600)'"
    )

    async def scenario() -> None:
        async with dyno(subject, "worker.1", command) as (handle, logs):
            await until(lambda: any(x.endswith(": ready") for x in lines(logs)), "ready")
            assert await stop_dyno(handle, grace=30) == 0
            assert any(x.endswith("app[worker.1]: drained") for x in lines(logs))

    asyncio.run(scenario())


def test_memory_use_and_a_kill_at_the_hard_limit_are_reported(subject: Subject) -> None:
    """What R14 and R15 are read from: the dyno's memory in use, and the kernel's kill of
    a dyno past its size's hard limit (twice the quota: 1 GB for standard-1x)."""
    allocate = (
        'python3 -c \'import time; b = b"x" * ({mb} << 20); '
        'print("allocated", flush=True); time.sleep(600)\''
    )
    hard_limit_mb = dyno_size("standard-1x").kill_bytes >> 20

    async def scenario() -> None:
        async with dyno(subject, "worker.1", allocate.format(mb=96)) as (handle, logs):
            await until(lambda: any(x.endswith(": allocated") for x in lines(logs)), "allocation")
            # (Read as the dyno manager does, from time to time: a backend may need a moment
            # after the dyno starts before it can tell.)
            await until(lambda: (handle.memory_usage() or 0) > 90 << 20, "a memory reading")
            assert handle.oom_kills() == 0
        async with dyno(subject, "worker.2", allocate.format(mb=hard_limit_mb + 100)) as (
            handle,
            logs,
        ):
            assert await asyncio.wait_for(handle.wait_exit(), 60) == 137
            assert handle.oom_kills() >= 1
            assert not any(x.endswith(": allocated") for x in lines(logs))

    asyncio.run(scenario())
