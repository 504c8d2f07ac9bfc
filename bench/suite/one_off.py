"""8. One-off dynos: `cove run true` until it exits (the API call, the rendezvous TLS, the
sandbox's start and end, the exit marker), timed by hyperfine. Reference: `cove ps`, the
same CLI with one API call, i.e. what any `cove` command costs (Python's start, imports,
a TLS request). Target: half a second (issue 18; Heroku takes several)."""

from __future__ import annotations

import shlex
import statistics
import sys

from tests.e2e.harness import APPS

from bench.suite.config import Config
from bench.suite.cove import Cove
from bench.suite.report import Row, Section
from bench.suite.tools import hyperfine

APP = "bench-one-off"
SOURCE = APPS / "noisy"  # standard library only: nothing to install
TARGET_S = 0.5  # issue 18


def run(config: Config) -> Section:
    section = Section("one-off")
    with Cove() as cove:
        repo = cove.new_app(SOURCE, APP)
        cove.user.push(repo)
        env = " ".join(
            f"{k}={shlex.quote(cove.user.env[k])}" for k in ("HOME", "COVE_API_URL", "COVE_HOME")
        )
        cli = f"env {env} {shlex.quote(sys.executable)} -m cove.cli.main"
        timings = hyperfine(
            {
                "cove run true": f"{cli} run -a {APP} true",
                "cove ps": f"{cli} ps -a {APP}",
            },
            config.one_off_runs,
            warmup=1,
        )
    run_s = statistics.median(timings["cove run true"].runs)
    ps_s = statistics.median(timings["cove ps"].runs)
    section.raw = {name: vars(t) for name, t in timings.items()}
    section.rows = [
        Row(
            "cove run true -> exit (median)",
            "s",
            run_s,
            ps_s,
            "cove ps",
            target=f"<= {TARGET_S:g} s",
            ok=run_s <= TARGET_S,
        ),
    ]
    return section
