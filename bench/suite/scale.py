"""5. Scale-out: `cove ps:scale web=N` from web=1 until all N web dynos are `up` (polling
`GET /apps/{app}/dynos`), then until every dyno answers, confirmed through the router's
log lines. Reference: N - 1 bare gunicorns of the same slug (one per new dyno) started at
once on the host. Measured for web=8 and web=32 (`scale_to`, `scale_to_large`); at the
larger size also req/s through the router beside web=1, interleaved."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.harness import wait_for

from bench.suite.config import Config
from bench.suite.cove import FLASK_HELLO, Cove, boot_time
from bench.suite.report import Row, Section
from bench.suite.tools import Wrk, WrkResult, cpu_seconds

APP = "bench-scale"
ROUTER_LOG_REQUESTS = 1000  # at most; the app's log window is 1500 lines


def served_by(cove: Cove, requests: int) -> set[str]:
    """The dynos the router picked for ``requests`` requests, from its log lines."""
    host = cove.server.app_host(APP)
    with httpx.Client(base_url=cove.server.router_url, headers={"Host": host}) as client:
        for _ in range(requests):
            client.get("/").raise_for_status()
    logs = cove.user.cove("logs", "-a", APP, "-n", "1500", "-d", "router").stdout
    return set(re.findall(r"dyno=(web\.\d+) .*status=200", logs))


def wait_answers(url: str) -> None:
    wait_for(
        lambda: httpx.get(url, timeout=5).status_code == 200,
        60,
        interval=0.005,
        what=f"{url} to answer",
    )


def scale_out(cove: Cove, n: int) -> dict[str, float]:
    """`ps:scale web=n` from web=1: seconds until the CLI returns, all n are up, all serve."""
    start = time.perf_counter()
    cove.user.cove("ps:scale", f"web={n}", "-a", APP)
    cli = time.perf_counter() - start

    def all_up() -> bool:
        return sum(d["state"] == "up" for d in cove.dynos(APP)) == n

    wait_for(all_up, 180, interval=0.02, what=f"{n} web dynos up")
    up = time.perf_counter() - start
    # "up" = the dyno's port accepts connections; gunicorn binds it before its workers
    # have loaded the app. Serving = every dyno answers a request.
    for host, port in cove.web_addresses(APP):
        wait_answers(f"http://{host}:{port}/")
    return {"cli_returned_s": cli, "all_up_s": up, "all_serving_s": time.perf_counter() - start}


def scale_in(cove: Cove) -> None:
    """Back to web=1, until the other dynos are gone."""
    cove.user.cove("ps:scale", "web=1", "-a", APP)
    wait_for(lambda: len(cove.dynos(APP)) == 1, 120, what="back to one web dyno")


def measure(cove: Cove, slug: Path, n: int) -> dict[str, Any]:
    """One timed scale-out web=1 -> n, between two reference boots of n - 1 bare gunicorns
    (web.1 keeps running: scaling starts n - 1 new dynos), so drift hits both alike."""
    references = [boot_time(slug, n - 1)]
    out: dict[str, Any] = scale_out(cove, n)
    out["routed_to"] = sorted(served_by(cove, min(50 * n, ROUTER_LOG_REQUESTS)))
    references.append(boot_time(slug, n - 1))
    out["bare_gunicorns"] = references
    out["reference"] = {k: statistics.mean(r[k] for r in references) for k in references[0]}
    return out


def rows(n: int, figures: dict[str, Any]) -> list[Row]:
    reference, dynos = figures["reference"], figures["routed_to"]
    return [
        Row(
            f"scale web=1 -> {n}: all up (API)",
            "s",
            figures["all_up_s"],
            reference["bound_s"],
            f"{n - 1} bare gunicorns bound",
            target="(info)",
        ),
        Row(
            f"scale web=1 -> {n}: all serving",
            "s",
            figures["all_serving_s"],
            reference["serving_s"],
            f"{n - 1} bare gunicorns",
            target="<= 2x",
            ok=figures["all_serving_s"] <= 2 * reference["serving_s"],
            note=""
            if len(dynos) == n
            else f"router logs show only {len(dynos)} dynos served: {dynos}",
        ),
    ]


def router_rows(n: int, runs: dict[str, list[WrkResult]], cpu: dict[str, list[float]]) -> list[Row]:
    def median(size: str, key: str) -> float:
        return statistics.median(v for r in runs[size] if (v := getattr(r, key)) is not None)

    failed = sum(r.failed for rs in runs.values() for r in rs)
    return [
        Row(
            f"router req/s, web={n}",
            "req/s",
            median("many", "rps"),
            median("one", "rps"),
            "web=1",
            target="(info)",
            note=f"wrk saw {failed} failed requests" if failed else "",
        ),
        Row(
            f"router p99, web={n}",
            "ms",
            median("many", "p99_ms"),
            median("one", "p99_ms"),
            "web=1",
            target="(info)",
        ),
        Row(
            f"cove server CPU per request, web={n}",
            "us",
            statistics.median(cpu["many"]),
            statistics.median(cpu["one"]),
            "web=1",
            target="(info)",
        ),
    ]


def routed(cove: Cove, wrk: Wrk, config: Config, cpu: list[float]) -> WrkResult:
    """wrk through the router; appends `cove server`'s CPU per request (µs) to ``cpu``."""
    url, host = cove.server.router_url + "/", cove.server.app_host(APP)
    wrk.run(url, host, 1, warmup=0)  # warm-up
    before = cpu_seconds(cove.pid)
    result = wrk.run(url, host, config.wrk_seconds, warmup=0)
    cpu.append(1e6 * (cpu_seconds(cove.pid) - before) / max(1, result.requests))
    return result


def run(config: Config) -> Section:
    section = Section("scale")
    n, large = config.scale_to, config.scale_to_large
    wrk = Wrk(config.wrk_threads, config.wrk_connections)
    runs: dict[str, list[WrkResult]] = {"one": [], "many": []}
    cpu: dict[str, list[float]] = {"one": [], "many": []}
    with Cove() as cove:
        cove.deploy(FLASK_HELLO, APP)
        slug = cove.slug_dir(APP)
        figures = {n: measure(cove, slug, n)}
        scale_in(cove)
        # req/s at web=1 and at the larger size alternate, so drift hits both alike; the
        # first scale-out is the timed one.
        for round_ in range(config.wrk_rounds):
            runs["one"].append(routed(cove, wrk, config, cpu["one"]))
            if round_ == 0:
                figures[large] = measure(cove, slug, large)
            else:
                scale_out(cove, large)
            runs["many"].append(routed(cove, wrk, config, cpu["many"]))
            scale_in(cove)
    section.raw = {
        f"web={size}": {k: v for k, v in f.items() if k != "reference"}
        for size, f in figures.items()
    }
    section.raw["router"] = {
        f"web={1 if size == 'one' else large}": [
            {k: v for k, v in r.summary().items() if k != "raw"} for r in rs
        ]
        for size, rs in runs.items()
    }
    section.raw["server_cpu_us_per_request"] = {
        f"web={1 if size == 'one' else large}": values for size, values in cpu.items()
    }
    section.rows = [
        *rows(n, figures[n]),
        *rows(large, figures[large]),
        *router_rows(large, runs, cpu),
    ]
    return section
