"""The swarm backend's pieces without a Docker daemon: signed slug URLs and their route, the
Engine log stream's frames, and the service a dyno becomes."""

from __future__ import annotations

import asyncio
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cove.api import ApiContext, create_api
from cove.cli.main import cli
from cove.domain.dyno_sizes import dyno_size
from cove.dynos.backend import Attach, DynoSpec
from cove.logs import LogRouter
from cove.settings import Settings
from cove.store import Store
from cove.store.secrets import Keyring
from cove.swarm import slug_urls
from cove.swarm.attach import DialIns
from cove.swarm.backend import SwarmBackend, service_name
from cove.swarm.engine import Engine
from cove.swarm.stack_image import StackBuildError, debootstrap

SHA = "ab" * 32
NAME = f"{SHA}.tar.zst"
NOW = 1_800_000_000.0


def _query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_a_signed_url_is_valid_for_its_slug_until_it_expires() -> None:
    keyring = Keyring.generate()
    path, query = _query(slug_urls.signed_url("https://cove:5055", keyring, NAME, now=NOW))
    assert path == f"/slug-downloads/{NAME}"
    expires, signature = query["expires"], query["signature"]
    assert slug_urls.valid(keyring, NAME, expires, signature, now=NOW + 60)
    assert not slug_urls.valid(
        keyring, NAME, expires, signature, now=NOW + slug_urls.TTL_SECONDS + 1
    )
    assert not slug_urls.valid(keyring, f"{'cd' * 32}.tar.zst", expires, signature, now=NOW)
    assert not slug_urls.valid(keyring, NAME, str(int(expires) + 3600), signature, now=NOW)
    assert not slug_urls.valid(keyring, NAME, expires, "0" * 64, now=NOW)
    assert not slug_urls.valid(keyring, NAME, "soon", signature, now=NOW)
    assert not slug_urls.valid(Keyring.generate(), NAME, expires, signature, now=NOW)


def test_the_download_route_serves_a_slug_only_at_its_signed_url(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    settings.slugs_dir.mkdir(parents=True)
    (settings.slugs_dir / NAME).write_bytes(b"slug bytes")
    context = ApiContext(settings, store, LogRouter(), None, None, None)  # type: ignore[arg-type]
    client = TestClient(create_api(context))
    path, query = _query(slug_urls.signed_url("", store.keyring, NAME))
    good = client.get(path, params=query)
    assert good.status_code == 200 and good.content == b"slug bytes"
    for changed in ({"signature": "0" * 64}, {"expires": "1"}, {"signature": ""}):
        refused = client.get(path, params={**query, **changed})
        assert refused.status_code == 404
        assert refused.json()["id"] == "not_found"
    other = slug_urls.signed_url("", store.keyring, f"{'cd' * 32}.tar.zst")
    assert client.get(other).status_code == 404  # signed, but no such slug
    traversal = slug_urls.signed_url("", store.keyring, "..%2Fcove.db")
    assert client.get(traversal).status_code == 404


def test_the_log_stream_is_split_into_its_frames_whatever_the_chunks() -> None:
    frames = b"".join(
        struct.pack(">BxxxI", stream, len(data)) + data
        for stream, data in ((1, b"line one\n"), (2, b"an error\n"), (1, b"x" * 70_000))
    )

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(frames), 7):  # chunk boundaries cut headers and payloads
            yield frames[i : i + 7]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.41/services/svc/logs"
        return httpx.Response(200, content=body())

    async def read() -> list[bytes]:
        engine = Engine("/nowhere", transport=httpx.MockTransport(handler))
        try:
            return [chunk async for chunk in engine.service_logs("svc")]
        finally:
            await engine.close()

    assert asyncio.run(read()) == [b"line one\n", b"an error\n", b"x" * 70_000]


def _spec(**changes: object) -> DynoSpec:
    values: dict[str, object] = {
        "id": "0123456789abcdef",
        "app_id": "app-id",
        "app_name": "my-app",
        "name": "web.1",
        "type": "web",
        "command": "gunicorn app:app",
        "size": "standard-1x",
        "release_version": 3,
        "revision": "r",
        "slug": Path(f"/home/slugs/{NAME}"),
        "config": {"SECRET_KEY": "s3cret"},
        "uid": 200001,
    }
    values.update(changes)
    return DynoSpec(**values)  # type: ignore[arg-type]


def test_a_dyno_becomes_one_service_cove_restarts_itself(tmp_path: Path) -> None:
    backend = SwarmBackend(
        Engine("/nowhere"), "cove-stack:abc", "home1234567", "https://cove:5055", Keyring.generate()
    )
    spec = backend.service_spec(_spec(), 31000)
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"]
    env = dict(item.split("=", 1) for item in container["Env"])
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert template["RestartPolicy"] == {"Condition": "none"}  # Cove's back-off, not Swarm's
    assert env["PORT"] == "31000" and env["DYNO"] == "web.1" and env["SECRET_KEY"] == "s3cret"
    assert env["COVE_UID"] == "200001" and env["COVE_COMMAND"] == "gunicorn app:app"
    assert urlsplit(env["COVE_SLUG_URL"]).path == f"/slug-downloads/{NAME}"
    # Neither the capability URL nor config vars are on a command line.
    assert not any("slug-downloads" in a or "s3cret" in a for a in container["Command"])
    size = dyno_size("standard-1x")
    assert template["Resources"]["Limits"] == {"MemoryBytes": size.kill_bytes, "Pids": size.pids}
    assert spec["Labels"]["cove.dyno"] == "0123456789abcdef"
    assert (
        spec["Name"] == service_name("home1234567", _spec()) == "cove-home12-my-app-web-1-01234567"
    )
    worker = backend.service_spec(_spec(type="worker", name="worker.1"), None)
    assert not any(e.startswith("PORT=") for e in worker["TaskTemplate"]["ContainerSpec"]["Env"])


def test_a_name_that_is_not_a_slug_archive_is_refused() -> None:
    backend = SwarmBackend(Engine("/nowhere"), "img", "home", "https://cove", Keyring.generate())
    with pytest.raises(ValueError, match="not a slug archive"):
        backend.service_spec(_spec(slug=Path("/etc/passwd")), None)


def test_stack_build_without_docker_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    rootfs = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-cf", str(rootfs), "-C", str(tmp_path / "root"), "."], check=True)
    for key, value in {
        "COVE_HOME": str(tmp_path / "home"),
        "COVE_PYTHON_DIRS": "/usr/bin",
        "COVE_DOCKER_SOCKET": str(tmp_path / "no-docker.sock"),
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["stack:build", "--rootfs", str(rootfs)])
    assert result.exit_code == 1
    assert "The stack image was not built: Docker at" in result.output
    assert "no-docker.sock" in result.output


def test_stack_build_without_debootstrap_or_rootfs_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no debootstrap there
    with pytest.raises(StackBuildError, match="apt-get install debootstrap"):
        debootstrap(tmp_path / "root")


class _Daemon:
    """A swarm manager's Engine API, enough for placing and signalling one dyno whose task
    runs on node ``task_node`` (this manager is node ``n1``)."""

    def __init__(self, task_node: str, services: list[dict[str, object]] | None = None) -> None:
        self.task_node = task_node
        self.services = services or []
        self.calls: list[tuple[str, str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.41")
        self.calls.append((request.method, path, request.content))
        if path == "/info":
            swarm = {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "n1"}
            return httpx.Response(200, json={"Swarm": swarm})
        if path.startswith("/images/"):
            return httpx.Response(200, json={"Id": "sha256:" + "5" * 64})
        if path == "/nodes/n1" or path == f"/nodes/{self.task_node}":
            spec = {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "active"}
            node = {"Spec": spec, "Version": {"Index": 7}, "Status": {"Addr": "10.0.0.9"}}
            return httpx.Response(200, json=node)
        if path == "/networks":
            return httpx.Response(200, json=[{"Id": "hostnet", "Name": "host"}])
        if path == "/services" and request.method == "GET":
            return httpx.Response(200, json=self.services)
        if path == "/services/create":
            return httpx.Response(201, json={"ID": "svc"})
        if path == "/services/svc" and request.method == "GET":
            return httpx.Response(200, json={"Spec": {"Name": "x"}, "Version": {"Index": 11}})
        if path == "/tasks" and self.wrote("DELETE", "/services/svc"):
            return httpx.Response(404, json={"message": "no such service"})
        if path == "/tasks":
            status = {"State": "running", "ContainerStatus": {"ContainerID": "c1", "PID": 0}}
            task = {"NodeID": self.task_node, "CreatedAt": "1", "Status": status}
            return httpx.Response(200, json=[task])
        return httpx.Response(204 if request.method != "POST" or "update" not in path else 200)

    def wrote(self, method: str, path: str) -> list[bytes]:
        return [body for m, p, body in self.calls if m == method and p == path]


async def _signalled(daemon: _Daemon, *signals: str) -> None:
    engine = Engine("/nowhere", transport=httpx.MockTransport(daemon))
    backend = SwarmBackend(engine, "cove-stack:abc", "key123", "https://c:1", Keyring.generate())
    await backend.prepare()
    spec = backend.service_spec(_spec(), 31000)
    assert spec["TaskTemplate"]["Placement"] == {
        "Constraints": [f"node.labels.cove-stack == {'5' * 12}"]
    }
    dyno = await backend.start(_spec(), None)
    assert await dyno.wait_up(0.01) is False  # nothing listens on the port: still booting
    for name in signals:
        {"TERM": dyno.terminate, "KILL": dyno.kill}[name]()
        await asyncio.sleep(0.05)
    await engine.close()


def test_cove_labels_its_own_node_with_the_stack_image_and_places_dynos_by_it() -> None:
    daemon = _Daemon("n1")
    asyncio.run(_signalled(daemon))
    (update,) = daemon.wrote("POST", "/nodes/n1/update")
    labels = httpx.Response(200, content=update).json()["Labels"]
    assert labels == {"zone": "a", "cove-stack": "5" * 12}  # the node's other labels kept


def test_a_dyno_on_cove_s_node_is_signalled_through_its_container() -> None:
    daemon = _Daemon("n1")
    asyncio.run(_signalled(daemon, "TERM", "KILL"))
    kills = [c for c in daemon.calls if c[1] == "/containers/c1/kill"]
    assert len(kills) == 2
    assert not daemon.wrote("POST", "/services/svc/update")
    assert not daemon.wrote("DELETE", "/services/svc")


def test_a_dyno_on_another_node_is_stopped_through_swarm() -> None:
    daemon = _Daemon("n2")
    asyncio.run(_signalled(daemon, "TERM", "KILL"))
    assert not [c for c in daemon.calls if c[1].startswith("/containers/")]
    (scaled,) = daemon.wrote("POST", "/services/svc/update")  # SIGTERM: scaled to 0 ...
    assert httpx.Response(200, content=scaled).json()["Mode"] == {"Replicated": {"Replicas": 0}}
    assert daemon.wrote("DELETE", "/services/svc")  # ... SIGKILL: removed


def _service(service_id: str, **labels: str) -> dict[str, object]:
    return {"ID": service_id, "Spec": {"Labels": {"cove.cluster": "key123", **labels}}}


def test_the_manager_and_each_api_server_sweep_only_their_own_services() -> None:
    """A dyno manager taking over leaves the API servers' `cove run` dynos running."""
    daemon = _Daemon("n1", [_service("formation"), _service("ours", **{"cove.runs": "api-a"})])
    daemon.services.append(_service("theirs", **{"cove.runs": "api-b"}))

    async def sweep() -> tuple[int, int]:
        engine = Engine("/nowhere", transport=httpx.MockTransport(daemon))
        backend = SwarmBackend(
            engine, "cove-stack:abc", "key123", "https://c:1", Keyring.generate()
        )
        try:
            runs = backend.for_runs("api-a", DialIns(), 5056, 1.0)
            return await backend.sweep(), await runs.sweep()
        finally:
            await engine.close()

    assert asyncio.run(sweep()) == (1, 1)
    removed = [path for method, path, _ in daemon.calls if method == "DELETE"]
    assert removed == ["/services/formation", "/services/ours"]


def test_an_attached_dyno_that_never_calls_back_is_removed_saying_so() -> None:
    daemon = _Daemon("n2")

    async def start() -> None:
        engine = Engine("/nowhere", transport=httpx.MockTransport(daemon))
        backend = SwarmBackend(
            engine, "cove-stack:abc", "key123", "https://api.cove:5055", Keyring.generate()
        )
        await backend.prepare()
        runs = backend.for_runs("api-a", DialIns(), 5056, 0.05)
        spec = _spec(name="run.1234", type="run", attach=Attach(True, 100, 30))
        try:
            with pytest.raises(RuntimeError, match=r"it did not attach within 0\.05 s"):
                await runs.start(spec, None)
            # The removal is sent by a task of its own; the dyno's watch then ends.
            others = asyncio.all_tasks() - {asyncio.current_task()}
            await asyncio.wait(others, timeout=10)
        finally:
            await engine.close()

    asyncio.run(start())
    (created,) = daemon.wrote("POST", "/services/create")
    service = httpx.Response(200, content=created).json()
    assert service["Labels"]["cove.runs"] == "api-a"
    env = dict(e.split("=", 1) for e in service["TaskTemplate"]["ContainerSpec"]["Env"])
    assert env["COVE_ATTACH_ADDRESS"] == "api.cove:5056"
    assert (env["COVE_ATTACH_TTY"], env["COVE_ATTACH_SIZE"]) == ("1", "100x30")
    assert len(env["COVE_ATTACH_SECRET"]) >= 40
    assert "PORT" not in env
    assert daemon.wrote("DELETE", "/services/svc")


def test_a_dyno_outlives_its_daemon_being_unreachable_for_a_while() -> None:
    """dockerd refusing connections (restarting, say) says nothing of the dyno's task: it
    is asked again rather than read as gone (which crashed a serving dyno)."""

    class Restarting(_Daemon):
        outage = 0  # the task polls still to be refused

        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/tasks") and self.outage:
                self.outage -= 1
                raise httpx.ConnectError("[Errno 111] Connection refused")
            return super().__call__(request)

    daemon = Restarting("n2")  # (on another node: killed by removing its service)

    async def outage() -> tuple[bool, int]:
        engine = Engine("/nowhere", transport=httpx.MockTransport(daemon))
        backend = SwarmBackend(
            engine, "cove-stack:abc", "key123", "https://c:1", Keyring.generate()
        )
        await backend.prepare()
        dyno = await backend.start(_spec(), None)
        await dyno.wait_up(0.01)  # the task poll has seen it running
        daemon.outage = 3
        while daemon.outage and not dyno.has_exited():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.25)  # polls after the outage
        survived = not dyno.has_exited()
        dyno.kill()
        status = await asyncio.wait_for(dyno.wait_exit(), 10)
        await engine.close()
        return survived, status

    assert asyncio.run(outage()) == (True, 137)
