"""5. Scale-out: `cove ps:scale web=N` from web=1 until all N web dynos are `up` (polling
`GET /apps/{app}/dynos`), then until every dyno answers, confirmed through the router's
log lines. Reference: N - 1 bare gunicorns of the same slug (one per new dyno) started at
once on the host."""

from __future__ import annotations

import re
import statistics
import time

import httpx
from tests.e2e.harness import wait_for

from bench.suite.config import Config
from bench.suite.cove import FLASK_HELLO, Cove, boot_time, wait_until_answers
from bench.suite.report import Row, Section

APP = "bench-scale"


def served_by(cove: Cove, requests: int) -> set[str]:
    """The dynos the router picked for ``requests`` requests, from its log lines."""
    host = cove.server.app_host(APP)
    with httpx.Client(base_url=cove.server.router_url, headers={"Host": host}) as client:
        for _ in range(requests):
            client.get("/").raise_for_status()
    logs = cove.user.cove("logs", "-a", APP, "-n", "1500", "-d", "router").stdout
    return set(re.findall(r"dyno=(web\.\d+) .*status=200", logs))


def run(config: Config) -> Section:
    section = Section("scale")
    n = config.scale_to
    with Cove() as cove:
        cove.deploy(FLASK_HELLO, APP)
        slug = cove.slug_dir(APP)
        # web.1 keeps running: scaling starts n - 1 new dynos, so the reference boots as
        # many, once before and once after Cove's scale-out, so drift hits both alike.
        references = [boot_time(slug, n - 1)]
        start = time.perf_counter()
        cove.user.cove("ps:scale", f"web={n}", "-a", APP)
        cli = time.perf_counter() - start

        def all_up() -> bool:
            return sum(d["state"] == "up" for d in cove.dynos(APP)) == n

        wait_for(all_up, 120, interval=0.02, what=f"{n} web dynos up")
        up = time.perf_counter() - start
        # "up" = the dyno's port accepts connections; gunicorn binds it before its workers
        # have loaded the app. Serving = every dyno answers a request.
        for port in cove.web_ports(APP):
            wait_until_answers(port)
        serving = time.perf_counter() - start
        dynos = served_by(cove, 50 * n)
        references.append(boot_time(slug, n - 1))
    reference = {k: statistics.mean(r[k] for r in references) for k in references[0]}
    section.raw = {
        "cli_returned_s": cli,
        "all_up_s": up,
        "all_serving_s": serving,
        "routed_to": sorted(dynos),
        "bare_gunicorns": references,
    }
    section.rows = [
        Row(
            f"scale web=1 -> {n}: all up (API)",
            "s",
            up,
            reference["bound_s"],
            f"{n - 1} bare gunicorns bound",
            target="(info)",
        ),
        Row(
            f"scale web=1 -> {n}: all serving",
            "s",
            serving,
            reference["serving_s"],
            f"{n - 1} bare gunicorns",
            target="<= 2x",
            ok=serving <= 2 * reference["serving_s"],
            note=""
            if len(dynos) == n
            else f"router logs show only {len(dynos)} dynos served: {sorted(dynos)}",
        ),
    ]
    return section
