"""4. Zero downtime: requests failed (non-2xx/3xx responses and socket errors, as wrk
counts them) while the seed Flask app is deployed several times in a row under wrk load
through Cove's router. Target: 0."""

from __future__ import annotations

import statistics
import time

from bench.suite.config import Config
from bench.suite.cove import FIRST_TEXT, FLASK_HELLO, Cove
from bench.suite.report import Row, Section
from bench.suite.tools import Wrk

APP = "bench-zdt"


def run(config: Config) -> Section:
    section = Section("zero_downtime")
    wrk = Wrk(threads=2, connections=config.zero_downtime_connections, timeout="10s")
    with Cove() as cove:
        repo = cove.deploy(FLASK_HELLO, APP)
        text = FIRST_TEXT[FLASK_HELLO]
        deploys: list[float] = []
        with wrk.background(cove.server.router_url + "/", cove.server.app_host(APP)) as result:
            time.sleep(1)  # load flowing before the first deploy
            for i in range(config.zero_downtime_deploys):
                new = f"Hello under load {i + 1}!"
                cove.change_text(repo, FLASK_HELLO, text, new)
                deploys.append(cove.push_until_serving(repo, APP, new))
                text = new
            time.sleep(1)  # and after the last one: the old dyno is being stopped
    (load,) = result
    section.raw = {
        "deploys_s": deploys,
        "wrk": load.summary(),
        "connections": config.zero_downtime_connections,
    }
    section.rows = [
        Row(
            f"failed requests, {len(deploys)} deploys under load",
            "requests",
            load.failed,
            target="0",
            ok=load.failed == 0,
            note=f"{load.requests} requests in {load.seconds} s"
            + (
                f"; non-2xx/3xx {load.non_2xx_3xx}, socket {load.socket_errors}"
                if load.failed
                else ""
            ),
        ),
        Row(
            "deploy warm under that load",
            "s",
            statistics.median(deploys),
            target="(info)",
        ),
    ]
    return section
