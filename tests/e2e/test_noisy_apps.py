"""Noisy apps: a line longer than any buffer, and an app flooding its log, next to a quiet
neighbour. Neither may freeze a dyno, lose its stop path, or slow other apps down."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, running_server, wait_for

LONG = 200 * 1024  # bytes, far beyond asyncio's 64 KiB line limit
PIECE = 10000  # Logplex splits longer lines into 10000-byte pieces
FLOOD = 200_000  # lines
BUILD_L10 = re.compile(r" !     Error L10 \(output buffer overflow\): \d+ messages dropped since ")
L10 = re.compile(
    r"heroku\[logplex\]: Error L10 \(output buffer overflow\): (\d+) messages dropped since "
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\."
)


def get(server: CoveServer, app: str, path: str = "/", timeout: float = 5) -> httpx.Response:
    """A request through the router with a short deadline (a frozen dyno must not hang it)."""
    headers = {"Host": server.app_host(app)}
    return httpx.get(server.router_url + path, headers=headers, timeout=timeout)


def dynos(server: CoveServer, app: str) -> list[dict[str, str]]:
    return server.api("GET", f"/apps/{app}/dynos").json()  # type: ignore[no-any-return]


def deploy(user: User, app: str, *config: str) -> Path:
    repo = user.new_repo("noisy", app)
    user.cove("apps:create", app, cwd=repo)
    if config:
        user.cove("config:set", *config, cwd=repo)
    user.push(repo)
    return repo


def messages(user: User, repo: Path, dyno: str) -> list[str]:
    out = user.cove("logs", "-n", "1500", "-d", dyno, cwd=repo).stdout
    return [line.split(": ", 1)[1] for line in out.splitlines() if f"[{dyno}]: " in line]


def test_long_line_is_split_and_the_dyno_keeps_working(user: User, server: CoveServer) -> None:
    repo = deploy(user, "longline", f"LONG_LINE={LONG}")
    # The dyno wrote 200 KiB without a newline right after binding $PORT: it still serves.
    wait_for(lambda: get(server, "longline", "/probe").text == "ok", 60, what="longline serving")
    wait_for(lambda: "served /probe" in messages(user, repo, "web.1"), 30, what="a line after it")
    logged = messages(user, repo, "web.1")
    pieces = [m for m in logged if m and set(m) <= set("0123456789")]
    # Split into Logplex's 10000-byte pieces, in order, nothing lost.
    assert [len(p) for p in pieces] == [PIECE] * (LONG // PIECE) + [LONG % PIECE]
    assert "".join(pieces) == ("0123456789" * (LONG // 10))[:LONG]
    assert logged.index("after the long line") > logged.index(pieces[-1])
    assert "web.1: up" in user.cove("ps", cwd=repo).stdout

    # ps:restart stops it and starts a new dyno; nothing of the old one survives.
    (old,) = [d["id"] for d in dynos(server, "longline")]
    user.cove("ps:restart", cwd=repo)
    wait_for(
        lambda: [(d["id"] != old, d["state"]) for d in dynos(server, "longline")] == [(True, "up")],
        60,
        what="web.1 restarted",
    )
    wait_for(lambda: not processes_mentioning(old), 30, what="the old dyno's processes to exit")
    assert get(server, "longline").text == "ok"
    user.cove("apps:destroy", "-a", "longline", "--confirm", "longline", cwd=repo)


def long_lines_app(user: User) -> Path:
    """The noisy app whose build (a post_compile hook) and release command each print a
    200 KiB line; the build also floods its output with 200,000 short lines."""
    repo = user.new_repo("noisy", "longbuild")
    hook = repo / "bin" / "post_compile"
    hook.parent.mkdir()
    hook.write_text(
        f"head -c {LONG} /dev/zero | tr '\\0' 5\necho\nyes flooding the build | head -n {FLOOD}\n"
    )
    (repo / "release.py").write_text(f"print('7' * {LONG})\nprint('released')\n")
    (repo / "Procfile").write_text("web: python server.py\nrelease: python release.py\n")
    user.commit_all(repo, "a build and a release command printing long lines")
    user.cove("apps:create", "longbuild", cwd=repo)
    return repo


def test_build_and_release_output_split_long_lines_and_drop_a_flood(
    user: User, server: CoveServer
) -> None:
    repo = long_lines_app(user)
    push = user.push(repo).stderr
    assert "released" in push and "Verifying deploy... done." in push, push
    assert get(server, "longbuild").text == "ok"
    for digit in "57":
        pieces = [line for line in push.splitlines() if digit * 100 in line]
        assert len(pieces) == LONG // PIECE + 1, [len(p) for p in pieces]
        assert sum(p.count(digit) for p in pieces) == LONG  # nothing lost
        assert all(p.count(digit) <= PIECE for p in pieces)
    # The flood went beyond the build's line budget: dropped, and said so.
    assert 0 < push.count("flooding the build") < FLOOD
    assert BUILD_L10.search(push), push[-2000:]
    user.cove("apps:destroy", "-a", "longbuild", "--confirm", "longbuild", cwd=repo)


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[CoveServer]:
    """A server of its own: the neighbour's latency is measured without other tests' apps."""
    with running_server(tmp_path) as srv:
        yield srv


def latencies(server: CoveServer, app: str, count: int) -> list[float]:
    """Seconds per request through the router, one after another on one connection."""
    out = []
    with httpx.Client(headers={"Host": server.app_host(app)}, timeout=10) as client:
        for i in range(count):
            start = time.perf_counter()
            response = client.get(f"{server.router_url}/n{i}")
            out.append(time.perf_counter() - start)
            assert response.status_code == 200
    return out


def test_flooding_app_leaves_its_neighbour_alone(quiet_server: CoveServer, tmp_path: Path) -> None:
    server = quiet_server
    user = User.logged_in(tmp_path / "dev", server)
    deploy(user, "quiet", "TEXT=quiet")
    wait_for(lambda: get(server, "quiet").text == "quiet", 60, what="the neighbour serving")
    latencies(server, "quiet", 20)  # warm-up
    unloaded = statistics.median(latencies(server, "quiet", 100))

    noisy = deploy(user, "flood", "FLOOD=1")
    wait_for(
        lambda: any("flooding the log" in m for m in messages(user, noisy, "web.1")),
        60,
        what="the flood to start",
    )
    loaded = statistics.median(latencies(server, "quiet", 100))
    print(f"neighbour median: {unloaded * 1000:.2f} ms alone, {loaded * 1000:.2f} ms with a flood")
    # Generous (the machine is shared), but far below what an unbounded flood cost: the
    # median went from ~4 ms to ~200 ms on the 2-core development machine.
    assert loaded < max(10 * unloaded, 0.030), (unloaded, loaded)

    # Dropped lines are reported, Logplex-style; the API and the noisy app itself still answer.
    wait_for(
        lambda: L10.search(user.cove("logs", "-n", "1500", cwd=noisy).stdout),
        30,
        what="an L10 notice",
    )
    assert server.api("GET", "/apps").status_code == 200
    wait_for(lambda: get(server, "flood").text == "ok", 30, what="the noisy app serving")

    # And it stops like any dyno: nothing of it survives.
    (flooder,) = [d["id"] for d in dynos(server, "flood")]
    user.cove("ps:scale", "web=0", cwd=noisy)
    wait_for(lambda: not dynos(server, "flood"), 60, what="the noisy dyno stopped")
    wait_for(lambda: not processes_mentioning(flooder), 30, what="its processes to exit")
