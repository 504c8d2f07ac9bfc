"""1. Deploy time: `git push` -> the new release serving, cold and warm, for the seed Flask
app and a Django + whitenoise app, against a Heroku-style dependency install
(`python -m venv` + `pip install -r requirements.txt`) of the same requirements."""

from __future__ import annotations

import shlex
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.suite.config import Config
from bench.suite.cove import DJANGO_WHITENOISE, FIRST_TEXT, FLASK_HELLO, Cove, slug_python
from bench.suite.report import Row, Section
from bench.suite.tools import hyperfine, read_time_log, under_time

APPS = {"flask": FLASK_HELLO, "django": DJANGO_WHITENOISE}
# Issue 18's targets: a warm redeploy of the Django app in 1.0 s, of the Flask app in 0.8 s;
# a cold deploy in half the time of the dependency install alone.
WARM_TARGET_S = {"flask": 0.8, "django": 1.0}
COLD_TARGET_RATIO = 0.5


def reference_install(requirements: Path, python: Path, runs: int) -> dict[str, Any]:
    """`python -m venv` + `pip install -r`, timed by hyperfine (each run also under
    /usr/bin/time, for its CPU time and peak memory). Cold: no pip cache, every package is
    downloaded. Warm: pip's cache filled by a warm-up run, as a build without a venv cache
    still pays for a code-only change."""
    with tempfile.TemporaryDirectory(prefix="cove-bench-pip-") as tmp:
        work = Path(tmp)
        venv, cache = work / "venv", work / "pip-cache"
        install = (
            f"{shlex.quote(str(python))} -m venv {venv} && "
            f"{venv}/bin/pip install -q --disable-pip-version-check -r {requirements}"
        )
        out: dict[str, Any] = {"python": str(python)}
        for kind, command, warmup in (
            ("cold", f"{install} --no-cache-dir", 0),
            ("warm", f"PIP_CACHE_DIR={cache} {install}", 1),
        ):
            log = work / f"{kind}.time"
            (timing,) = hyperfine(
                {kind: under_time(command, log)}, runs, prepare=f"rm -rf {venv}", warmup=warmup
            ).values()
            usage = read_time_log(log)[warmup:]
            out[f"{kind}_s"] = timing.mean
            out[kind] = {
                **vars(timing),
                "cpu_s": statistics.mean(u["cpu_s"] for u in usage),
                "peak_rss_mb": max(u["peak_rss_mb"] for u in usage),
            }
    return out


def bench_app(cove: Cove, kind: str, config: Config) -> dict[str, Any]:
    source = APPS[kind]
    first = FIRST_TEXT[source]
    cold: list[float] = []
    repo = None
    for i in range(config.cold_runs):
        app = f"bench-{kind}-{i + 1}"
        repo = cove.new_app(source, app)  # a new app: its build cache is empty
        cold.append(cove.push_until_serving(repo, app, first))
    assert repo is not None
    app = f"bench-{kind}-{config.cold_runs}"
    warm: list[float] = []
    text = first
    for i in range(config.warm_runs):
        new = f"{first[:-1]} v{i + 1}!"
        cove.change_text(repo, source, text, new)
        warm.append(cove.push_until_serving(repo, app, new))
        text = new
    raw: dict[str, Any] = {"cold_s": cold, "warm_s": warm}
    if kind == "django":  # whitenoise serves what collectstatic put in the slug
        raw["static_status"] = cove.server.get(app, "/static/css/app.css").status_code
    raw["python"] = str(slug_python(cove.slug_dir(app)))
    raw["reference"] = reference_install(
        repo / "requirements.txt", Path(raw["python"]), config.reference_runs
    )
    return raw


def run(config: Config) -> Section:
    section = Section("deploy")
    with Cove() as cove:
        for kind in ("flask", "django"):
            section.raw[kind] = raw = bench_app(cove, kind, config)
            ref = raw["reference"]
            cold = statistics.median(raw["cold_s"])
            warm = statistics.median(raw["warm_s"])
            name = "flask-hello" if kind == "flask" else "django+whitenoise"
            section.rows += [
                Row(
                    f"deploy cold, {name}",
                    "s",
                    cold,
                    ref["cold_s"],
                    "venv+pip",
                    target=f"<= {COLD_TARGET_RATIO:g}x (whole deploy vs install alone)",
                    ok=cold <= COLD_TARGET_RATIO * ref["cold_s"],
                ),
                Row(
                    f"deploy warm, {name}",
                    "s",
                    warm,
                    ref["warm_s"],
                    "venv+pip, pip cache",
                    target=f"<= {WARM_TARGET_S[kind]:g} s",
                    ok=warm <= WARM_TARGET_S[kind],
                ),
            ]
            if kind == "django" and raw["static_status"] != 200:
                section.rows[-1].note = f"static file answered {raw['static_status']}"
    return section
