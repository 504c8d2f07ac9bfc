"""7. Noisy neighbour: a quiet app's latency through the router (wrk, few connections)
alone and while another app floods its log (`tests/e2e/apps/noisy` with FLOOD=1: its web
dyno writes 72 KB blocks of log lines to stdout as fast as the pipe takes them, like
`yes`). Rounds alternate flood off / on (the flooder scaled 0 / 1) so drift hits both
alike. Also: the CPU `cove server` uses while the flood runs and no requests come in."""

from __future__ import annotations

import statistics
import time
from typing import Any

from tests.e2e.harness import APPS, wait_for

from bench.suite.config import Config
from bench.suite.cove import Cove
from bench.suite.report import Row, Section
from bench.suite.tools import Wrk, WrkResult, cpu_seconds

NOISY = APPS / "noisy"  # a stdlib web server: "served <path>" per request, FLOOD=1 floods
QUIET, FLOODER = "bench-quiet", "bench-flood"
CPU_SAMPLE_SECONDS = 3.0


def flooding(cove: Cove, on: bool) -> None:
    """Scale the flooder to 1 (and wait until its dyno is up and its flood has reached the
    log) or to 0 (and wait until it is gone)."""
    cove.user.cove("ps:scale", f"web={int(on)}", "-a", FLOODER)
    if on:
        wait_for(lambda: [d["state"] for d in cove.dynos(FLOODER)] == ["up"], 60, what="flooder up")
        wait_for(
            lambda: "flooding the log" in cove.user.cove("logs", "-n", "20", "-a", FLOODER).stdout,
            30,
            what="the flood in the log",
        )
    else:
        wait_for(lambda: not cove.dynos(FLOODER), 60, what="flooder stopped")


def server_cores(cove: Cove) -> float:
    """Cores `cove server` keeps busy, over a few seconds with no requests."""
    before = cpu_seconds(cove.pid)
    time.sleep(CPU_SAMPLE_SECONDS)
    return (cpu_seconds(cove.pid) - before) / CPU_SAMPLE_SECONDS


def run(config: Config) -> Section:
    section = Section("noisy_neighbour")
    wrk = Wrk(threads=1, connections=config.noisy_connections)
    runs: dict[str, list[WrkResult]] = {"alone": [], "flood": []}
    cores: dict[str, list[float]] = {"alone": [], "flood": []}
    with Cove() as cove:
        for app, config_var in ((QUIET, "TEXT=quiet"), (FLOODER, "FLOOD=1")):
            repo = cove.new_app(NOISY, app)
            cove.user.cove("config:set", config_var, cwd=repo)
            cove.user.push(repo)
        cove.wait_serving(QUIET, "quiet")
        url, host = cove.server.router_url + "/", cove.server.app_host(QUIET)
        for _ in range(config.wrk_rounds):
            for state in ("alone", "flood"):
                flooding(cove, state == "flood")
                cores[state].append(server_cores(cove))
                runs[state].append(wrk.run(url, host, config.wrk_seconds))
        dropped = cove.user.cove("logs", "-n", "1500", "-a", FLOODER).stdout.count("Error L10")

    def median(state: str, key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs[state])

    section.raw = {
        "connections": config.noisy_connections,
        "seconds": config.wrk_seconds,
        "rounds": config.wrk_rounds,
        "server_cores": cores,
        "l10_notices_in_last_1500_lines": dropped,
        "runs": {
            s: [{k: v for k, v in r.summary().items() if k != "raw"} for r in rs]
            for s, rs in runs.items()
        },
    }
    alone: dict[str, Any] = {k: median("alone", k) for k in ("p50_ms", "p99_ms", "rps")}
    flood: dict[str, Any] = {k: median("flood", k) for k in ("p50_ms", "p99_ms", "rps")}
    section.rows = [
        Row(
            "noisy neighbour: quiet app p50",
            "ms",
            flood["p50_ms"],
            alone["p50_ms"],
            "no flood",
            target="<= 2x",
            ok=flood["p50_ms"] <= 2 * alone["p50_ms"],
        ),
        Row(
            "noisy neighbour: quiet app p99",
            "ms",
            flood["p99_ms"],
            alone["p99_ms"],
            "no flood",
            target="<= 2x",
            ok=flood["p99_ms"] <= 2 * alone["p99_ms"],
        ),
        Row(
            "noisy neighbour: quiet app req/s",
            "req/s",
            flood["rps"],
            alone["rps"],
            "no flood",
            target=">= 0.5x",
            ok=flood["rps"] >= 0.5 * alone["rps"],
        ),
        Row(
            "noisy neighbour: cove server CPU, flood only",
            "cores",
            statistics.median(cores["flood"]),
            target="(info)",
            note=f"{statistics.median(cores['alone']):.3f} cores without the flood",
        ),
    ]
    failed = sum(r.failed for rs in runs.values() for r in rs)
    if failed:
        section.rows[0].note = f"wrk saw {failed} failed requests"
    return section
