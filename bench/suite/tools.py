"""The public tools the suite drives (wrk, hyperfine, nginx, /usr/bin/time) and small
helpers around processes and ports. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def background_cpu(seconds: float = 1.0) -> float:
    """Cores kept busy by *other* work while the suite sits idle (from /proc/stat): a
    figure measured with this well above 0 shared the machine."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    cores = len(re.findall(r"^cpu\d+", Path("/proc/stat").read_text(), re.M))
    return round(cores * (busy1 - busy0) / max(1, total1 - total0), 2)


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU time a process has used (and its direct children's, if asked)."""
    total = 0.0
    for each in [pid, *(children(pid) if with_children else [])]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# --- wrk ---------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    raw: str

    @property
    def failed(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["failed"] = self.failed
        return out


def parse_wrk(out: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not done or not rps:
        raise ValueError(f"unexpected wrk output:\n{out}")
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests=int(done[1]),
        seconds=round(_ms(done[2] + done[3]) / 1000, 2),
        rps=float(rps[1]),
        p50_ms=_ms(latency["50"]) if "50" in latency else None,
        p99_ms=_ms(latency["99"]) if "99" in latency else None,
        non_2xx_3xx=int(non2xx[1]) if non2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
        if errors
        else {},
        raw=out,
    )


@dataclass
class Wrk:
    threads: int = 2
    connections: int = 32
    timeout: str = "5s"

    def argv(self, url: str, host: str | None, duration: str) -> list[str]:
        argv = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{duration}"]
        argv += ["--latency", f"--timeout={self.timeout}"]
        if host:
            argv += ["-H", f"Host: {host}"]
        return [*argv, url]

    def run(self, url: str, host: str | None, seconds: float, warmup: float = 1) -> WrkResult:
        """A short warm-up (fills the proxies' upstream pools), then the measured run."""
        if warmup:
            subprocess.run(
                self.argv(url, host, f"{warmup:g}s"), check=True, capture_output=True, text=True
            )
        done = subprocess.run(
            self.argv(url, host, f"{seconds:g}s"), check=True, capture_output=True, text=True
        )
        return parse_wrk(done.stdout)

    @contextmanager
    def background(self, url: str, host: str | None) -> Iterator[list[WrkResult]]:
        """Load for as long as the block runs (wrk prints its totals on SIGINT). The list
        yielded gets the result when the block ends."""
        proc = subprocess.Popen(
            self.argv(url, host, "600s"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        result: list[WrkResult] = []
        try:
            yield result
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
            result.append(parse_wrk(out.decode()))


# --- nginx -------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise RuntimeError("nginx is not installed (bench/run installs it with apt-get)")
    return found


@dataclass
class Nginx:
    port: int
    pid: int  # the master; its workers are its children


@contextmanager
def nginx(
    upstream_port: int, workers: str = "1", upstream_host: str = "127.0.0.1"
) -> Iterator[Nginx]:
    """nginx as a reverse proxy (bench/nginx.conf.in) to ``upstream_host:upstream_port``."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cove-bench-nginx-") as prefix:
        conf = (BENCH / "nginx.conf.in").read_text()
        for key, value in {
            "WORKERS": workers,
            "PREFIX": prefix,
            "LISTEN_PORT": str(port),
            "UPSTREAM_HOST": upstream_host,
            "UPSTREAM_PORT": str(upstream_port),
        }.items():
            conf = conf.replace(f"@{key}@", value)
        (Path(prefix) / "nginx.conf").write_text(conf)
        binary = nginx_binary()
        # `daemon off` keeps nginx our child, so it is stopped like any other process.
        proc = subprocess.Popen(
            [
                binary,
                "-c",
                f"{prefix}/nginx.conf",
                "-p",
                prefix,
                "-e",
                f"{prefix}/error.log",
                "-g",
                "daemon off;",
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, 10)
            yield Nginx(port, proc.pid)
        finally:
            stop_process(proc, signal.SIGQUIT)


# --- hyperfine ---------------------------------------------------------------------------


@dataclass
class Timing:
    mean: float
    stddev: float | None
    min: float
    max: float
    runs: list[float]


def hyperfine(
    commands: dict[str, str], runs: int, prepare: str | None = None, warmup: int = 0
) -> dict[str, Timing]:
    """Time shell commands with hyperfine; returns seconds per command name."""
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        argv = ["hyperfine", "--style", "none", "--runs", str(runs), "--warmup", str(warmup)]
        argv += ["--export-json", export.name]
        if prepare:
            argv += ["--prepare", prepare]
        for name, command in commands.items():
            argv += ["--command-name", name, command]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        data = json.loads(Path(export.name).read_text())
    return {
        r["command"]: Timing(
            mean=r["mean"], stddev=r["stddev"], min=r["min"], max=r["max"], runs=r["times"]
        )
        for r in data["results"]
    }


TIME_FORMAT = "%e %U %S %M"  # wall s, user s, system s, peak RSS KB


def under_time(command: str, log: Path) -> str:
    """``command`` (shell) wrapped in GNU /usr/bin/time, appending one line per run to
    ``log``: wall seconds, CPU seconds and peak RSS of the biggest process."""
    return f"/usr/bin/time -a -o {log} -f '{TIME_FORMAT}' sh -c {shlex.quote(command)}"


def read_time_log(log: Path) -> list[dict[str, float]]:
    runs = []
    for line in log.read_text().splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0][0].isdigit():  # skip "Command exited ..." lines
            wall, user, system, rss_kb = fields
            runs.append(
                {
                    "wall_s": float(wall),
                    "cpu_s": round(float(user) + float(system), 2),
                    "peak_rss_mb": round(int(rss_kb) / 1024, 1),
                }
            )
    return runs
