"""Pipeline promotion: ``POST /pipeline-promotions`` until the router serves the source's
release on every target. One staging app (the seed's Flask app) and N production apps in
one pipeline; each run changes staging's text and pushes it (not timed), then times the
promotion. The first run of each N is cold (the targets were never deployed: their user's
copy of the slug is unpacked first); the others replace running dynos. ``cove
pipelines:promote`` (the CLI, until it returns) is timed once per N as well."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.suite.cove import FIRST_TEXT, FLASK_HELLO, Cove


def serving_times(cove: Cove, apps: list[str], text: str, start: float) -> list[float]:
    """Seconds from ``start`` until each app first serves ``text`` (all watched at once)."""
    seen: dict[str, float] = {}
    deadline = start + 120
    while len(seen) < len(apps):
        if time.perf_counter() > deadline:
            raise AssertionError(f"not serving {text!r}: {sorted(set(apps) - set(seen))}")
        for app in apps:
            if app not in seen and cove.serving(app, text):
                seen[app] = time.perf_counter() - start
        time.sleep(0.005)
    return [seen[app] for app in apps]


def measure(cove: Cove, targets: int, runs: int) -> dict[str, Any]:
    staging = f"bp{targets}-staging"
    prods = [f"bp{targets}-prod{i}" for i in range(1, targets + 1)]
    repo = cove.deploy(FLASK_HELLO, staging)
    pipeline = f"bp{targets}"
    cove.user.cove("pipelines:create", pipeline, "-a", staging, "-s", "staging", cwd=repo)
    for app in prods:
        cove.user.cove("apps:create", app, "--no-remote", cwd=repo)
        cove.user.cove("pipelines:add", pipeline, "-a", app, "-s", "production", cwd=repo)
    api = cove.server.api
    pipeline_id = api("GET", f"/pipelines/{pipeline}").json()["id"]
    ids = [api("GET", f"/apps/{app}").json()["id"] for app in [staging, *prods]]
    body = {
        "pipeline": {"id": pipeline_id},
        "source": {"app": {"id": ids[0]}},
        "targets": [{"app": {"id": i}} for i in ids[1:]],
    }
    times: list[float] = []  # until every target serves
    firsts: list[float] = []  # until the first one does
    text = FIRST_TEXT[FLASK_HELLO]
    for run in range(runs + 1):
        if run:  # a new version on staging
            new = f"Version {run} of {targets}"
            cove.change_text(repo, FLASK_HELLO, text, new)
            cove.push_until_serving(repo, staging, new)
            text = new
        start = time.perf_counter()
        answer = api("POST", "/pipeline-promotions", json=body)
        assert answer.status_code == 201, answer.text
        each = serving_times(cove, prods, text, start)
        firsts.append(min(each))
        times.append(max(each))
        time.sleep(0.5)  # let replaced dynos finish stopping
    new = f"CLI run of {targets}"
    cove.change_text(repo, FLASK_HELLO, text, new)
    cove.push_until_serving(repo, staging, new)
    start = time.perf_counter()
    cove.user.cove("pipelines:promote", "-a", staging, cwd=repo)
    cli = time.perf_counter() - start
    for app in prods:
        cove.wait_serving(app, new, 120)
    cli_serving = time.perf_counter() - start
    return {
        "targets": targets,
        "cold_s": times[0],
        "warm_s": times[1:],
        "warm_median_s": statistics.median(times[1:]),
        "warm_first_target_median_s": statistics.median(firsts[1:]),
        "cli_returned_s": cli,
        "cli_serving_s": cli_serving,
    }
