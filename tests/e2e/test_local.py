"""`cove local` and `cove local:run`: real processes on this machine, no server.

The app: a tiny HTTP server as ``web`` (answers with its PORT, name and env) and a
``worker`` that starts a grandchild, so stopping has a process tree to clean up. Every
process's command line carries the app directory, so "no process left" is checked by
looking for that marker in every process on the machine.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import processes_mentioning, wait_for

PY = sys.executable

WEB = """\
import http.server, json, os, sys
print(f"web up pid={os.getpid()} port={os.environ['PORT']}", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/exit/"):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
            os._exit(int(self.path.rsplit("/", 1)[1]))
        body = json.dumps({
            "port": os.environ["PORT"],
            "name": os.environ["FOREMAN_WORKER_NAME"],
            "foo": os.environ.get("FOO"),
            "shell": os.environ.get("FROM_SHELL"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

# The worker starts a grandchild (marked with the app directory, so the test can find it)
# and waits; IGNORE_TERM makes both shrug off SIGTERM.
WORKER = """\
import os, signal, subprocess, sys
ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if os.environ.get("IGNORE_TERM") else ""
if ignore:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = f"import signal; {ignore}signal.pause()"
child = subprocess.Popen([sys.executable, "-c", code, sys.argv[1]])
print(f"worker up port={os.environ['PORT']} foo={os.environ.get('FOO')}", flush=True)
signal.pause()
"""

PREFIX = r"\d\d:\d\d:\d\d "


def free_port_base() -> int:
    """A port P with P, P+1 and P+100 free (web.1, web.2, worker.1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 100 > 65535:
            continue
        try:
            for port in (base, base + 1, base + 100):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free port block found")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    app = tmp_path / "app"
    app.mkdir()
    (app / "web.py").write_text(WEB)
    (app / "worker.py").write_text(WORKER)
    (app / "Procfile").write_text(
        f"web: {PY} {app}/web.py\nworker: {PY} {app}/worker.py {app}\nrelease: exit 9\n"
    )
    (app / ".env").write_text('# settings\nFOO="from dotenv" # a comment\nexport BAR=2\n')
    yield app
    # Whatever a failed test left behind must not outlive it.
    for pid in processes_mentioning(str(app)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def local_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "NO_COLOR")}
    env.update(extra)
    return env


class LocalRun:
    """A running `cove local`, its output collected line by line as it streams."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "cove.cli.main", "local", *args],
            cwd=cwd,
            env=env or local_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._threads = [
            threading.Thread(target=self._collect, args=(self.proc.stdout, self.lines)),
            threading.Thread(target=self._collect, args=(self.proc.stderr, self.errors)),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _collect(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            assert self.proc.poll() is None or any(regex.search(x) for x in self.lines), (
                f"cove local exited {self.proc.returncode}: {self.output}"
            )
            return next((m for x in self.lines if (m := regex.search(x))), None)

        return wait_for(found, timeout=timeout, what=f"a line matching {pattern!r}")

    def wait_exit(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + "\n".join(self.errors)


def no_process_left(app: Path) -> None:
    wait_for(lambda: not processes_mentioning(str(app)), timeout=15, what="every process gone")


def test_web_instances_and_worker_get_their_ports_and_ctrl_c_stops_every_tree(
    app: Path,
) -> None:
    base = free_port_base()
    run = LocalRun(app, "web=2", "worker=1", "-p", str(base), env=local_env(FROM_SHELL="yes"))
    try:
        run.wait_line(rf"^{PREFIX}web\.1    \| web up pid=\d+ port={base}$")
        run.wait_line(rf"^{PREFIX}web\.2    \| web up pid=\d+ port={base + 1}$")
        run.wait_line(rf"^{PREFIX}worker\.1 \| worker up port={base + 100} foo=from dotenv$")
        for index, port in ((1, base), (2, base + 1)):
            answer = wait_for(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/"), what="web")
            assert answer.json() == {
                "port": str(port),
                "name": f"web.{index}",
                "foo": "from dotenv",
                "shell": "yes",
            }
        # The release type is not started, and the worker's tree is there to be stopped.
        assert not any("release" in line for line in run.lines)
        assert len(processes_mentioning(str(app))) >= 4
        run.proc.send_signal(signal.SIGINT)
        assert run.wait_exit() == 130, run.output
    finally:
        run.proc.kill()
    assert "[OKAY] Loaded ENV .env File as KEY=VALUE Format" in run.lines
    assert "[WARN] Interrupted by User" in run.lines
    assert any(re.match(rf"^{PREFIX}worker\.1 \| Exited on signal SIGTERM", x) for x in run.lines)
    no_process_left(app)
    for port in (base, base + 1):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/")


def test_one_process_exiting_stops_the_others_with_its_exit_code(app: Path) -> None:
    base = free_port_base()
    run = LocalRun(app, "web,worker", "-p", str(base))
    try:
        run.wait_line(r"worker\.1 \| worker up")
        run.wait_line(r"web\.1    \| web up")
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{base}/"), what="web")
        # The process may be gone before its answer is read.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{base}/exit/7")
        assert run.wait_exit() == 7, run.output
    finally:
        run.proc.kill()
    assert any(re.match(rf"^{PREFIX}web\.1    \| Exited with exit code 7$", x) for x in run.lines)
    assert any("worker.1 | Exited on signal SIGTERM" in x for x in run.lines), run.output
    no_process_left(app)


def test_a_tree_that_ignores_sigterm_is_killed_after_the_timeout(app: Path) -> None:
    run = LocalRun(
        app, "worker", "-p", str(free_port_base()), "-t", "0.5", env=local_env(IGNORE_TERM="1")
    )
    try:
        run.wait_line(r"worker\.1 \| worker up")
        run.proc.send_signal(signal.SIGTERM)
        assert run.wait_exit() == 143, run.output
    finally:
        run.proc.kill()
    # Only SIGKILL ends the worker and its grandchild, which both ignore SIGTERM.
    no_process_left(app)


def test_output_without_a_newline_still_shows_while_the_process_runs(tmp_path: Path) -> None:
    script = (
        "import sys, signal; sys.stdout.write('no newline yet'); sys.stdout.flush(); signal.pause()"
    )
    (tmp_path / "Procfile").write_text(f'web: {PY} -c "{script}" {tmp_path}\n')
    run = LocalRun(tmp_path, "-p", str(free_port_base()))
    try:
        run.wait_line(rf"^{PREFIX}web\.1 \| no newline yet$")
        assert run.proc.poll() is None
        run.proc.send_signal(signal.SIGINT)
        assert run.wait_exit() == 130
    finally:
        run.proc.kill()
    no_process_left(tmp_path)


def test_when_its_output_is_closed_cove_local_stops_everything(tmp_path: Path) -> None:
    script = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)\n"
    (tmp_path / "ticker.py").write_text(script)
    (tmp_path / "Procfile").write_text(f"clock: {PY} {tmp_path}/ticker.py\n")
    proc = subprocess.Popen(
        [PY, "-m", "cove.cli.main", "local", "-p", "6000"],
        cwd=tmp_path,
        env=local_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "tick" in proc.stdout.readline() + proc.stdout.readline()
        proc.stdout.close()  # as `cove local | head -2` does
        assert proc.wait(timeout=30) == 1
    finally:
        proc.kill()
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()
    no_process_left(tmp_path)


def test_a_process_that_finishes_ends_cove_local_with_status_0(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("clock: echo tick; echo tock\n")
    (tmp_path / ".env").write_text("GOOD=1\nthis line is wrong\n")
    result = cove_local(tmp_path)
    assert result.returncode == 0, result
    assert re.search(rf"^{PREFIX}clock\.1 \| tick\n{PREFIX}clock\.1 \| tock\n", result.stdout, re.M)
    assert "clock.1 | Exited Successfully" in result.stdout
    assert ".env line 2 has no `=`" in result.stderr


def test_prefixes_are_coloured_on_a_terminal(tmp_path: Path) -> None:
    # web ends (ending cove local) only once worker has printed: both lines are there.
    (tmp_path / "Procfile").write_text(
        "web: echo hello; while [ ! -e there.done ]; do sleep 0.05; done\n"
        "worker: echo there; touch there.done; exec sleep 30\n"
    )
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "cove.cli.main", "local", "-p", "6000"],
        cwd=tmp_path,
        env=local_env(),
        stdout=secondary,
        stderr=subprocess.PIPE,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(timeout=30) == 0
    text = b"".join(chunks).decode()
    assert re.search(r"\x1b\[35m\d\d:\d\d:\d\d web\.1    \| \x1b\[0mhello", text), text
    assert re.search(r"\x1b\[34m\d\d:\d\d:\d\d worker\.1 \| \x1b\[0mthere", text), text


def cove_local(cwd: Path, *args: str, command: str = "local") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "cove.cli.main", command, *args],
        cwd=cwd,
        env=local_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_local_run_has_the_env_file_and_passes_the_exit_status_through(app: Path) -> None:
    result = cove_local(
        app,
        "python",
        "-c",
        "import os; print(os.environ['FOO'], os.environ['BAR'])",
        command="local:run",
    )
    assert result.returncode == 0, result
    assert result.stdout == "from dotenv 2\n"
    assert "Loaded ENV .env" in result.stderr
    failed = cove_local(
        app, "-e", "none.env", "sh", "-c", 'echo "[$FOO]"; exit 5', command="local:run"
    )
    assert failed.returncode == 5
    assert failed.stdout == "[]\n"


def test_local_run_of_a_missing_command(app: Path) -> None:
    result = cove_local(app, "no-such-command-here", command="local:run")
    assert result.returncode == 127
    assert "no-such-command-here: command not found" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("wbe=2",), "No 'wbe' process type in the Procfile (its types: web, worker, release)"),
        (("web=two",), "Invalid process formation 'web=two'"),
        (("-f", "Procfile.dev"), "No Procfile.dev found"),
        (("-p", "80"), "Port 80 (from -p) is a privileged port"),
        (("web=0",), "No processes to start"),
    ],
)
def test_errors(app: Path, args: tuple[str, ...], message: str) -> None:
    result = cove_local(app, *args)
    assert result.returncode == 1, result
    assert message in result.stderr
    assert not processes_mentioning(str(app))


def test_no_procfile_and_a_bad_procfile(tmp_path: Path) -> None:
    result = cove_local(tmp_path)
    assert result.returncode == 1
    assert "No Procfile found" in result.stderr
    (tmp_path / "Procfile").write_text("web: ok\nthis is not a process line\n")
    result = cove_local(tmp_path)
    assert result.returncode == 1
    assert "Procfile line 2 is not of the form" in result.stderr
