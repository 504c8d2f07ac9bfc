"""9. Log drains: what a syslog drain delivers, and what a drain that is down costs the app.

- **Delivery**: an app (`tests/e2e/apps/drained`) writes numbered lines at steady rates
  (in 10 ms ticks), from 2000 a second (the most one app may log by default,
  COVE_LOG_LINES_PER_SECOND) upwards, then as fast as its pipe takes them; a local syslog
  receiver counts the lines that arrive and the drops its L10 lines report. The server
  runs with a line budget high enough that every line reaches the log, so what is
  measured is the drain: the highest rate it delivers whole, and what it delivers while
  the flood keeps `cove server` busy.
- **Latency**: wrk (few connections) against another app while its one drain is up (a
  receiver reading everything), stalled (accepts the connection and never reads), refused
  (nothing listening), and with no drain at all; rounds alternate so drift hits all alike.
"""

from __future__ import annotations

import re
import socket
import statistics
import threading
import time
from typing import Any

from tests.e2e.drain_receivers import StalledReceiver, refused_port
from tests.e2e.harness import APPS, wait_for

from bench.suite.config import Config
from bench.suite.cove import Cove
from bench.suite.report import Row, Section
from bench.suite.tools import Wrk, WrkResult, cpu_seconds

DRAINED = APPS / "drained"  # stdlib web server; FLOOD=<n>|max writes numbered lines
LATENCY_APP, FLOOD_APP = "bench-drained", "bench-drain-flood"
STEADY_RATE = 2000  # lines a second: the default COVE_LOG_LINES_PER_SECOND
RATES = (STEADY_RATE, 10_000, 25_000, 50_000, 100_000)  # steps, in lines a second
LOSSLESS = 0.99  # a rate is delivered whole when this much of it arrives, nothing dropped
UNLIMITED = 10_000_000  # the bench server's line budget (the flood reaches the log whole)
FLOOD_LINE = b"flood line "
L10 = re.compile(rb"Error L10 \(output buffer overflow\): (\d+) messages dropped")
STATES = ("none", "up", "stalled", "refused")


class CountingReceiver:
    """A syslog receiver that only counts: octet-counted frames end in a newline and a log
    line holds none, so lines are newlines; drops are what its L10 lines say."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"syslog://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.lines = 0
        self.dropped = 0
        self.connections = 0
        self.newest = 0  # the last "flood line N" seen: how far the app has written
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._count, args=(conn,), daemon=True).start()

    def _count(self, conn: socket.socket) -> None:
        rest = b""
        with conn:
            while chunk := conn.recv(1 << 20):
                data = rest + chunk
                cut = data.rfind(b"\n") + 1
                whole, rest = data[:cut], data[cut:]
                drops = sum(int(n) for n in L10.findall(whole))
                last = whole.rfind(FLOOD_LINE)
                newest = (
                    int(whole[last + len(FLOOD_LINE) : whole.index(b"\n", last)])
                    if last >= 0
                    else 0
                )
                with self.lock:
                    self.lines += whole.count(b"\n")
                    self.dropped += drops
                    self.newest = newest or self.newest

    def snapshot(self) -> tuple[int, int, int]:
        with self.lock:
            return self.lines, self.dropped, self.newest

    def close(self) -> None:
        self.sock.close()


def drain_to(cove: Cove, app: str, url: str | None) -> None:
    """Make ``url`` the app's only drain (None: no drain)."""
    for drain in cove.server.api("GET", f"/apps/{app}/log-drains").json():
        cove.user.cove("drains:remove", drain["token"], "-a", app)
    if url is not None:
        cove.user.cove("drains:add", url, "-a", app)


def delivery(cove: Cove, receiver: CountingReceiver, seconds: float) -> dict[str, float]:
    """Lines a second the receiver got and the drain reported dropped over ``seconds``,
    and the cores `cove server` used meanwhile."""
    lines0, dropped0, newest0 = receiver.snapshot()
    cpu0, t0 = cpu_seconds(cove.pid), time.perf_counter()
    time.sleep(seconds)
    lines1, dropped1, newest1 = receiver.snapshot()
    elapsed = time.perf_counter() - t0
    return {
        "delivered_per_s": (lines1 - lines0) / elapsed,
        "dropped_per_s": (dropped1 - dropped0) / elapsed,
        "written_per_s": (newest1 - newest0) / elapsed,  # by the app, as numbered
        "server_cores": (cpu_seconds(cove.pid) - cpu0) / elapsed,
        "seconds": elapsed,
    }


def flooding(cove: Cove, receiver: CountingReceiver, setting: str) -> None:
    """Set the app's flood (a config change: its dyno restarts) and wait for its lines."""
    cove.user.cove("config:set", f"FLOOD={setting}", "-a", FLOOD_APP)
    wait_for(lambda: [d["state"] for d in cove.dynos(FLOOD_APP)] == ["up"], 60, what="flood up")
    start = receiver.snapshot()[0]
    wait_for(lambda: receiver.snapshot()[0] > start + 1000, 30, what="flood on the drain")
    time.sleep(1)  # past the restart's own lines and the first second's ramp


def run(config: Config) -> Section:
    section = Section("drain")
    wrk = Wrk(threads=1, connections=config.drain_connections)
    runs: dict[str, list[WrkResult]] = {state: [] for state in STATES}
    cove = Cove()
    cove.server.env["COVE_LOG_LINES_PER_SECOND"] = str(UNLIMITED)
    up, stalled = CountingReceiver(), StalledReceiver()
    flood_receiver = CountingReceiver()
    try:
        with cove:
            repo = cove.new_app(DRAINED, LATENCY_APP)
            cove.user.push(repo)
            cove.wait_serving(LATENCY_APP, "ok")
            urls = {
                "none": None,
                "up": up.url,
                "stalled": f"syslog://127.0.0.1:{stalled.port}",
                "refused": f"syslog://127.0.0.1:{refused_port()}",
            }
            url, host = cove.server.router_url + "/", cove.server.app_host(LATENCY_APP)
            for _ in range(config.wrk_rounds):
                for state in STATES:
                    drain_to(cove, LATENCY_APP, urls[state])
                    if state == "up":
                        wait_for(lambda: up.connections, 15, what="the drain to connect")
                    runs[state].append(wrk.run(url, host, config.wrk_seconds))
            drain_to(cove, LATENCY_APP, None)
            cove.user.cove("ps:scale", "web=0", "-a", LATENCY_APP)
            stalled_drops = cove.user.cove(
                "logs", "-n", "1500", "-s", "heroku", "-d", "logplex", "-a", LATENCY_APP
            ).stdout.count("Error L10")

            repo = cove.new_app(DRAINED, FLOOD_APP)
            cove.user.cove("drains:add", flood_receiver.url, "-a", FLOOD_APP)
            cove.user.push(repo)
            steps: dict[int, dict[str, float]] = {}
            for rate in RATES:
                flooding(cove, flood_receiver, str(rate))
                steps[rate] = delivery(cove, flood_receiver, config.drain_seconds)
            flooding(cove, flood_receiver, "max")
            flood = delivery(cove, flood_receiver, config.drain_seconds)
    finally:
        for receiver in (up, stalled, flood_receiver):
            receiver.close()

    def median(state: str, key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs[state])

    latency: dict[str, dict[str, Any]] = {
        s: {k: median(s, k) for k in ("p50_ms", "p99_ms", "rps")} for s in STATES
    }
    section.raw = {
        "connections": config.drain_connections,
        "seconds": config.wrk_seconds,
        "rounds": config.wrk_rounds,
        "latency": latency,
        "l10_notices_in_latency_app_log": stalled_drops,
        "steps": steps,
        "flood": flood,
        "runs": {
            s: [{k: v for k, v in r.summary().items() if k != "raw"} for r in rs]
            for s, rs in runs.items()
        },
    }
    offered = flood["written_per_s"]
    steady = steps[STEADY_RATE]
    whole = [
        r
        for r, m in steps.items()
        if m["delivered_per_s"] >= LOSSLESS * r and not m["dropped_per_s"]
    ]
    best = max(whole, default=0)
    steps_note = ", ".join(
        f"{r / 1000:g}k: {m['delivered_per_s'] / 1000:.1f}k ({m['dropped_per_s']:.0f} dropped)"
        for r, m in steps.items()
    )
    section.rows = [
        Row(
            f"drain: lines/s delivered, app writing {STEADY_RATE}/s",
            "lines/s",
            steady["delivered_per_s"],
            STEADY_RATE,
            "the app's rate",
            target=">= 0.98x",
            ok=steady["delivered_per_s"] >= 0.98 * STEADY_RATE,
            note=f"{steady['dropped_per_s']:.0f} dropped/s",
        ),
        Row(
            "drain: highest rate delivered whole",
            "lines/s",
            steps[best]["delivered_per_s"] if best else None,
            best or None,
            "the app's rate",
            target="(info)",
            note=f"lines/s written: delivered/s at each step: {steps_note}",
        ),
        Row(
            "drain: sustained lines/s delivered, app flooding",
            "lines/s",
            flood["delivered_per_s"],
            offered,
            "lines the app wrote",
            target="(info)",
            note=(
                f"{flood['dropped_per_s']:.0f} dropped/s (L10); cove server "
                f"{flood['server_cores']:.2f} cores"
            ),
        ),
    ]
    # p99 over a few seconds on a shared machine moves more than p50: a looser bound.
    for state in ("stalled", "refused"):
        for key, label, bound in (("p50_ms", "p50", 1.5), ("p99_ms", "p99", 2.0)):
            section.rows.append(
                Row(
                    f"drain {state}: app latency {label}",
                    "ms",
                    latency[state][key],
                    latency["up"][key],
                    "drain up",
                    target=f"<= {bound:g}x",
                    ok=latency[state][key] <= bound * latency["up"][key],
                )
            )
    section.rows.append(
        Row(
            "drain up: app latency p50",
            "ms",
            latency["up"]["p50_ms"],
            latency["none"]["p50_ms"],
            "no drain",
            target="(info)",
            note=f"req/s {latency['up']['rps']:.0f} vs {latency['none']['rps']:.0f}",
        )
    )
    failed = sum(r.failed for rs in runs.values() for r in rs)
    if failed:
        section.rows[3].note = f"wrk saw {failed} failed requests"
    return section
