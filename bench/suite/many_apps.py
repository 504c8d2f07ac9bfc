"""11. Many apps: N small apps (`bench/apps/tiny-web`, standard library only, so builds
are cheap) x 1 web dyno on one `cove server`, each figure beside the same figure for 1 app
measured in the same run:

- bringing every app back after a server restart (stop, start on the same COVE_HOME, until
  every app answers through the router with its own text), beside the same restart with
  1 app deployed;
- router req/s and p99 with wrk spread across the N Host headers (a Lua script rotating
  Host), beside wrk against one app's host, interleaved;
- memory: each dyno's process tree (bwrap, the launcher shell) beyond the app's own
  process, and `cove server` RSS growth per app (1 app vs N, both after a restart)."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.suite.config import Config
from bench.suite.cove import Cove
from bench.suite.density import descendants, server_memory, tree_memory
from bench.suite.report import Row, Section
from bench.suite.tools import BENCH, Wrk, WrkResult, cpu_seconds, parse_wrk

TINY_WEB = BENCH / "apps" / "tiny-web"  # a stdlib web server answering $TEXT
PUSHERS = 4  # apps created and pushed at a time
SANDBOX_PROCESSES = {"bwrap", "bash"}  # a dyno's tree beyond the app: the sandbox, launcher


def app_name(i: int) -> str:
    return f"bench-many-{i:03d}"


def deploy(cove: Cove, name: str) -> float:
    """Create the app, give it its own text (so a wrong route shows), push; seconds until
    the router serves it."""
    repo = cove.new_app(TINY_WEB, name)
    cove.server.api("PATCH", f"/apps/{name}/config-vars", json={"TEXT": name}).raise_for_status()
    return cove.push_until_serving(repo, name, name)


def wait_all_serving(cove: Cove, apps: list[str], timeout: float = 300) -> None:
    """Until every app answers through the router with its own text. A request to an app
    whose dyno is starting is held by the router until the dyno is up."""
    pending = list(apps)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=cove.server.router_url, timeout=10) as client:
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} apps not serving: {pending[:5]}")
            still = []
            for app in pending:
                try:
                    response = client.get("/", headers={"Host": cove.server.app_host(app)})
                    ok = response.status_code == 200 and response.text == app
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    still.append(app)
            if len(still) == len(pending):
                time.sleep(0.01)
            pending = still


def restart(cove: Cove, apps: list[str]) -> dict[str, float]:
    """Stop the server (it stops every dyno), start it on the same COVE_HOME; seconds from
    the start until `server.json` is written and until every app serves."""
    t0 = time.perf_counter()
    cove.server.stop()
    stopped = time.perf_counter() - t0
    start = time.perf_counter()
    cove.server.start()
    started = time.perf_counter() - start
    wait_all_serving(cove, apps)
    return {
        "stop_s": stopped,
        "server_json_s": started,
        "all_serving_s": time.perf_counter() - start,
    }


def dyno_memory(cove: Cove) -> dict[str, Any]:
    """Each dyno's tree (bwrap, launcher shell, the app's processes) and the app's own
    processes alone; medians per dyno and the sums (PSS sums are honest)."""
    trees, apps = [], []
    for sandbox in cove.dyno_pids():
        tree = [sandbox, *descendants(sandbox)]
        app = [p for p in tree if _comm(p) not in SANDBOX_PROCESSES]
        trees.append(tree_memory(tree))
        apps.append(tree_memory(app))
    out: dict[str, Any] = {"dynos": len(trees)}
    for key in ("rss_mb", "pss_mb"):
        out[f"tree_{key}"] = statistics.median(t[key] for t in trees)
        out[f"app_{key}"] = statistics.median(a[key] for a in apps)
        out[f"overhead_{key}"] = statistics.median(
            t[key] - a[key] for t, a in zip(trees, apps, strict=True)
        )
        out[f"sum_tree_{key}"] = round(sum(t[key] for t in trees), 1)
    out["processes_per_tree"] = statistics.median(t["processes"] for t in trees)
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


ROTATE_HOSTS = """
local hosts = {%s}
local i = 0
request = function()
  i = i %% #hosts + 1
  wrk.headers["Host"] = hosts[i]
  return wrk.format("GET", "/")
end
"""


def wrk_rotating(wrk: Wrk, url: str, hosts: list[str], seconds: float) -> WrkResult:
    """wrk whose every request names the next of ``hosts`` (each thread goes round them)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(ROTATE_HOSTS % ", ".join(f'"{h}"' for h in hosts))
        script.flush()
        argv = wrk.argv(url, None, f"{seconds:g}s")
        argv[-1:-1] = ["-s", script.name]
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return parse_wrk(done.stdout)


def measure_router(cove: Cove, config: Config, apps: list[str]) -> dict[str, Any]:
    """wrk across every app's host and against one app's, interleaved; medians. Also the
    server's CPU per request (router + reading each request's log line)."""
    wrk = Wrk(config.wrk_threads, config.wrk_connections)
    url = cove.server.router_url + "/"
    spread = [cove.server.app_host(a) for a in apps]
    targets = {"spread": spread, "one": spread[:1]}
    runs: dict[str, list[WrkResult]] = {k: [] for k in targets}
    cpu: dict[str, list[float]] = {k: [] for k in targets}
    for _ in range(config.wrk_rounds):
        for name, hosts in targets.items():
            wrk_rotating(wrk, url, hosts, 1)  # warm-up
            before = cpu_seconds(cove.pid)
            result = wrk_rotating(wrk, url, hosts, config.wrk_seconds)
            cpu[name].append(1e6 * (cpu_seconds(cove.pid) - before) / max(1, result.requests))
            runs[name].append(result)
    out: dict[str, Any] = {}
    for name, results in runs.items():
        out[name] = {
            "rps": statistics.median(r.rps for r in results),
            "p50_ms": statistics.median(r.p50_ms or 0 for r in results),
            "p99_ms": statistics.median(r.p99_ms or 0 for r in results),
            "failed": sum(r.failed for r in results),
            "server_cpu_us_per_request": round(statistics.median(cpu[name]), 1),
            "runs": [{k: v for k, v in r.summary().items() if k != "raw"} for r in results],
        }
    return out


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def run(config: Config) -> Section:
    section = Section("many_apps")
    n = config.many_apps
    apps = [app_name(i + 1) for i in range(n)]
    half = max(2, n // 2)
    with Cove() as cove:
        time.sleep(2)  # past start-up
        idle = server_memory(cove.pid)
        deploys = [deploy(cove, apps[0])]
        one = [restart(cove, apps[:1]) for _ in range(config.many_apps_restarts)]
        time.sleep(3)  # memory settled after the restart
        server_one = server_memory(cove.pid)
        # Half of them, then all: three points show how the restart grows with the apps.
        with ThreadPoolExecutor(PUSHERS) as pool:
            deploys += list(pool.map(lambda a: deploy(cove, a), apps[1:half]))
            half_restarts = [restart(cove, apps[:half]) for _ in range(config.many_apps_restarts)]
            deploys += list(pool.map(lambda a: deploy(cove, a), apps[half:]))
        many = [restart(cove, apps) for _ in range(config.many_apps_restarts)]
        time.sleep(3)
        server_many = server_memory(cove.pid)
        dynos = dyno_memory(cove)
        router = measure_router(cove, config, apps)
    growth = (server_many["rss_mb"] - server_one["rss_mb"]) / max(1, n - 1)
    section.raw = {
        "apps": n,
        "deploys_s": deploys,
        "restart_one_app": one,
        "restart_half_the_apps": half_restarts,
        "restart_all_apps": many,
        "server_idle": idle,
        "server_one_app": server_one,
        "server_all_apps": server_many,
        "dynos": dynos,
        "router": router,
    }
    spread, single = router["spread"], router["one"]
    failed = spread["failed"] + single["failed"]
    section.rows = [
        Row(
            f"restart -> all {n} apps serving",
            "s",
            _median(many, "all_serving_s"),
            _median(one, "all_serving_s"),
            "1 app",
            target="(info)",
            note=f"{_median(half_restarts, 'all_serving_s'):.2f} s with {half} apps; "
            f"server.json written after {_median(many, 'server_json_s'):.2f} s ({n} apps) / "
            f"{_median(one, 'server_json_s'):.2f} s (1 app); the old server stopped in "
            f"{_median(many, 'stop_s'):.2f} s ({n}) / {_median(one, 'stop_s'):.2f} s (1)",
        ),
        Row(
            f"router req/s across {n} hosts",
            "req/s",
            spread["rps"],
            single["rps"],
            "one host",
            target="(info)",
            note=f"wrk saw {failed} failed requests" if failed else "",
        ),
        Row(
            f"router p99 across {n} hosts",
            "ms",
            spread["p99_ms"],
            single["p99_ms"],
            "one host",
            target="(info)",
        ),
        Row(
            f"cove server CPU per request, {n} hosts",
            "us",
            spread["server_cpu_us_per_request"],
            single["server_cpu_us_per_request"],
            "one host",
            target="(info)",
        ),
        Row(
            "dyno overhead beyond the app, RSS",
            "MB",
            dynos["overhead_rss_mb"],
            dynos["app_rss_mb"],
            "the app's process",
            target="(info)",
            note=f"median of {dynos['dynos']} dynos; PSS {dynos['overhead_pss_mb']:.2f} MB "
            f"beside the app's {dynos['app_pss_mb']:.2f} MB",
        ),
        Row(
            "cove server RSS growth per app",
            "MB",
            growth,
            dynos["tree_rss_mb"],
            "one dyno tree",
            target="(info)",
            note=f"cove server RSS {server_one['rss_mb']:.0f} MB with 1 app, "
            f"{server_many['rss_mb']:.0f} MB with {n} (idle, no app: {idle['rss_mb']:.0f} MB)",
        ),
    ]
    return section
