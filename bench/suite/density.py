"""6. Density: memory of `cove server` itself (the control plane: API, router, dyno
manager, builder, log router in one process), idle and with N hello apps running, beside
the memory of all the dynos' process trees (sandbox, shell, gunicorn master + workers)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.suite.config import Config
from bench.suite.cove import FIRST_TEXT, FLASK_HELLO, Cove
from bench.suite.report import Row, Section
from bench.suite.tools import children

MB = 1024 * 1024
TARGET_RATIO = 0.1


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages split between their users, so sums are honest."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        below = children(todo.pop())
        found += below
        todo += below
    return found


def tree_memory(pids: list[int]) -> dict[str, float]:
    rss = pss = 0.0
    for pid in pids:
        try:
            rss, pss = rss + rss_mb(pid), pss + pss_mb(pid)
        except OSError:  # exited meanwhile
            continue
    return {"rss_mb": round(rss, 1), "pss_mb": round(pss, 1), "processes": len(pids)}


def server_memory(pid: int, samples: int = 3) -> dict[str, float]:
    rss, pss = [], []
    for _ in range(samples):
        rss.append(rss_mb(pid))
        pss.append(pss_mb(pid))
        time.sleep(0.5)
    return {"rss_mb": round(statistics.median(rss), 1), "pss_mb": round(statistics.median(pss), 1)}


def run(config: Config) -> Section:
    section = Section("density")
    n = config.density_apps
    with Cove() as cove:
        time.sleep(2)  # past start-up
        idle = server_memory(cove.pid)
        deploys = []
        for i in range(n):
            app = f"bench-density-{i + 1}"
            repo = cove.new_app(FLASK_HELLO, app)
            deploys.append(cove.push_until_serving(repo, app, FIRST_TEXT[FLASK_HELLO]))
        time.sleep(3)  # replaced/finished processes gone, memory settled
        busy = server_memory(cove.pid)
        sandboxes = cove.dyno_pids()
        dynos = tree_memory(sandboxes + [p for s in sandboxes for p in descendants(s)])
        dynos["sandboxes"] = len(sandboxes)
    section.raw = {"server_idle": idle, "server_with_apps": busy, "dynos": dynos}
    section.raw["apps"] = n
    section.raw["cold_deploys_s"] = deploys
    ratio_ok = busy["rss_mb"] <= TARGET_RATIO * dynos["rss_mb"]
    section.rows = [
        Row("cove server RSS, idle", "MB", idle["rss_mb"], target="(info)"),
        Row(
            f"cove server RSS vs dynos, {n} apps",
            "MB",
            busy["rss_mb"],
            dynos["rss_mb"],
            f"{int(dynos['sandboxes'])} dyno trees",
            target=f"<= {TARGET_RATIO:g}x",
            ok=ratio_ok,
        ),
        Row(
            "cove server growth per app",
            "MB",
            (busy["rss_mb"] - idle["rss_mb"]) / n,
            dynos["rss_mb"] / max(1, dynos["sandboxes"]),
            "one dyno tree",
            target="(info)",
        ),
    ]
    return section
