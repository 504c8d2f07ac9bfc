"""12. Dynos on Docker Swarm (issue 19): a warm deploy of the seed Flask app, `git push` until
the new release serves, with dynos as Swarm services (the slug fetched by each node at
start) beside the same deploy on the local backend, in the same run. Both use the same
stack (Debian's python3, which the stack image has too). Needs root, docker.io and
debootstrap (or COVE_TEST_ROOTFS, a root filesystem tarball); without them the section
says why."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.docker_swarm import build_stack_image, docker_swarm

from bench.suite.config import Config
from bench.suite.cove import FIRST_TEXT, FLASK_HELLO, Cove
from bench.suite.report import Row, Section

APP = "bench-swarm"


def _deploys(env: dict[str, str], config: Config) -> dict[str, Any]:
    with Cove({"COVE_PYTHON_DIRS": "/usr/bin", **env}) as cove:
        repo = cove.new_app(FLASK_HELLO, APP)
        first = cove.push_until_serving(repo, APP, FIRST_TEXT[FLASK_HELLO])
        warm, text = [], FIRST_TEXT[FLASK_HELLO]
        for i in range(config.warm_runs):
            new = f"{text[:-1].split(' v')[0]} v{i + 1}!"
            cove.change_text(repo, FLASK_HELLO, text, new)
            warm.append(cove.push_until_serving(repo, APP, new))
            text = new
    return {"first_s": first, "warm_s": warm}


def run(config: Config) -> Section:
    section = Section("swarm")
    try:
        with docker_swarm() as socket:
            swarm = build_stack_image(socket, Path(tempfile.mkdtemp(prefix="cove-bench-")))
            on_swarm = {"COVE_DYNO_BACKEND": "swarm", "COVE_SWARM_IMAGE": swarm.image, **swarm.env}
            runs: dict[str, list[dict[str, Any]]] = {"local": [], "swarm": []}
            for _ in range(2):  # interleaved rounds: drift hits both alike
                runs["local"].append(_deploys({}, config))
                runs["swarm"].append(_deploys(on_swarm, config))
    except pytest.skip.Exception as exc:
        return Section("swarm", error=f"skipped: {exc}")
    section.raw = runs
    medians = {
        kind: statistics.median(w for r in rounds for w in r["warm_s"])
        for kind, rounds in runs.items()
    }
    firsts = {
        kind: statistics.median(r["first_s"] for r in rounds) for kind, rounds in runs.items()
    }
    section.rows = [
        Row(
            "deploy warm, flask-hello, swarm",
            "s",
            medians["swarm"],
            medians["local"],
            "local backend",
        ),
        Row(
            "first deploy, flask-hello, swarm",
            "s",
            firsts["swarm"],
            firsts["local"],
            "local backend",
        ),
    ]
    return section
