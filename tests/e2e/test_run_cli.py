"""`cove run` and `cove run:detached` as a user types them, against a real `cove server`:
an interactive bash through a pseudo-terminal (echo, resize, Ctrl-C, exit status), piped
stdin, output to a file, config vars and /app, detached output in the logs, and the errors
(no release yet, a refused secret)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.client.rendezvous import Attachment, AttachUrl, RendezvousError
from cove.client.trust import client_context
from tests.e2e.harness import CoveServer, User, wait_for

APP = "run-cli"
COVE = [sys.executable, "-m", "cove.cli.main"]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> User:
    """A developer with a deployed Python app (a light one: no packages to install)."""
    user = User.logged_in(tmp_path_factory.mktemp("run-cli") / "home", server)
    repo = user.new_repo("one-off", APP)
    user.cove("apps:create", APP, cwd=repo)
    user.cove("config:set", "GREETING=hello-from-config", cwd=repo)
    user.push(repo)
    return user


class Terminal:
    """A program run on a pseudo-terminal that is its controlling terminal, as in a shell
    window: what it prints is read from the master side, keys are written to it."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
            # The pty becomes the controlling terminal: SIGWINCH reaches the CLI.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        self.output = b""
        self._seen = 0

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def expect(self, pattern: bytes, timeout: float = 60) -> re.Match[bytes]:
        """Wait for ``pattern`` (a regex) in what arrived since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.output, self._seen)
            if found:
                self._seen = found.end()
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.output[self._seen :]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # EIO: nothing has the slave open any more
                    time.sleep(0.01)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def window_size_follows(terminal: Terminal) -> None:
    """A remote bash at its prompt on a 30x100 terminal: the dyno's terminal has that size,
    and takes this terminal's new size (40x120) after a resize."""
    terminal.send(b"echo size=$(stty size)=\r")
    terminal.expect(rb"size=30 100=")
    terminal.resize(40, 120)

    def resized() -> bool:
        terminal.send(b"echo size=$(stty size)=\r")
        terminal.expect(rb"size=\d+ \d+=")
        return terminal.output.rfind(b"size=40 120=") > terminal.output.rfind(b"size=30 100=")

    wait_for(resized, 30, interval=0.2, what="the dyno's terminal to take the new size")


@pytest.fixture
def terminal(dev: User) -> Iterator[Terminal]:
    term = Terminal([*COVE, "run", "-a", APP, "bash"], dev.env, rows=30, cols=100)
    try:
        yield term
    finally:
        term.close()


def test_interactive_bash_through_a_terminal(terminal: Terminal, dev: User) -> None:
    before = termios.tcgetattr(terminal.slave)
    name = terminal.expect(rb"Running bash on \xe2\xac\xa2 run-cli\.\.\. up, (run\.\d+)\r\n")
    terminal.expect(rb"\$ ")  # bash's prompt: keys typed before it may be flushed by readline

    # What is typed is echoed by the dyno's terminal; the command's output follows.
    terminal.send(b"echo out-$((6*7)) $GREETING $PWD\r")
    terminal.expect(rb"echo out-\$\(\(6\*7\)\) \$GREETING \$PWD\r\n")
    terminal.expect(rb"out-42 hello-from-config /app\r\n")
    assert termios.tcgetattr(terminal.slave)[3] & termios.ECHO == 0  # raw mode here

    # The window size was passed, and follows a resize of this terminal.
    window_size_follows(terminal)

    # Ctrl-C interrupts the remote foreground program, not the CLI.
    # The program announces itself once it runs: bash makes a job the terminal's foreground
    # before running it, whereas after `echo ...; sleep 100` printed, the ^C could reach
    # bash before it had forked `sleep`, leaving the sleep uninterrupted.
    terminal.send(b"sh -c 'echo sleeping-$((2*2)); exec sleep 100'\r")
    terminal.expect(rb"sleeping-4\r\n")
    terminal.send(b"\x03")
    terminal.send(b"echo back-$((1+1))\r")
    terminal.expect(rb"back-2\r\n", timeout=30)  # well before the sleep would have ended

    # The one-off dyno is listed while it runs, as Heroku's ps does.
    ps = dev.cove("ps", "-a", APP).stdout
    one_off = rf"{re.escape(name.group(1).decode())} \(Standard-1X\): up "
    assert re.search(
        one_off + r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [+-]\d{4} \(~ \d+[sm] ago\): bash", ps
    )

    terminal.send(b"exit 7\r")
    assert terminal.wait() == 7, terminal.output.decode(errors="replace")
    assert b"heroku-command-exit-status" not in terminal.output
    assert termios.tcgetattr(terminal.slave) == before  # the terminal is restored


def test_piped_stdin_reaches_python(dev: User) -> None:
    result = dev.run(*COVE, "run", "-a", APP, "python", check=False, input="print(1+1)\n")
    assert (result.returncode, result.stdout) == (0, "2\n"), result.stderr
    assert re.fullmatch(r"Running python on ⬢ run-cli\.\.\. up, run\.\d+\n", result.stderr)


VARS = ", ".join(f"os.environ['{k}']" for k in ("GREETING", "ONE", "TWO", "DYNO"))


def test_arguments_config_vars_env_and_exit_status(dev: User) -> None:
    result = dev.cove(
        *("run", "-a", APP, "-e", "ONE=1;TWO=two words", "--no-tty"),
        *("python", "-c", f"import os; print(os.getcwd(), {VARS}); raise SystemExit(3)"),
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert re.fullmatch(r"/app hello-from-config 1 two words run\.\d+\n", result.stdout)


def test_output_to_a_file_with_a_terminal_for_stdin(dev: User, tmp_path: Path) -> None:
    """`cove run ... > out.txt` typed in a terminal: stdin is a terminal, stdout a file."""
    master, slave = os.openpty()
    out = tmp_path / "out.txt"
    try:
        with out.open("wb") as stdout:
            proc = subprocess.run(
                [*COVE, "run", "-a", APP, "printf 'one\\ntwo\\n'; ls /app"],
                stdin=slave,
                stdout=stdout,
                stderr=subprocess.PIPE,
                env=dev.env,
                timeout=120,
                check=False,
            )
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"one\ntwo\nProcfile\nnotes.txt\nrequirements.txt\n"


def test_run_detached_output_goes_to_the_logs(dev: User) -> None:
    result = dev.cove("run:detached", "-a", APP, "echo", "detached-$((40+2))")
    # Quoted for its parentheses; `$((...))` still expands in the dyno.
    status = r'Running echo "detached-\$\(\(40\+2\)\)" on ⬢ run-cli\.\.\. done, (run\.\d+)\n'
    name = re.fullmatch(status, result.stderr)
    assert name, result.stderr
    dyno = name.group(1)
    assert result.stdout == f"Run cove logs --app {APP} --dyno {dyno} to view the output.\n"

    def logged() -> bool:
        logs = dev.cove("logs", "-a", APP, "--dyno", dyno).stdout
        return f"app[{dyno}]: detached-42" in logs

    wait_for(logged, 60, interval=0.2, what="the detached run's output in cove logs")


def test_ps_stop_ends_a_detached_run(dev: User) -> None:
    result = dev.cove("run:detached", "-a", APP, "sleep 300")
    dyno = result.stderr.strip().rsplit(" ", 1)[-1]

    line = re.compile(rf"^{re.escape(dyno)} \(Standard-1X\): up .*: sleep 300$", re.MULTILINE)

    def listed() -> bool:
        return bool(line.search(dev.cove("ps", "-a", APP).stdout))

    wait_for(listed, 60, interval=0.2, what=f"{dyno} up in cove ps")
    dev.cove("ps:stop", "-a", APP, dyno)
    wait_for(
        lambda: dyno not in dev.cove("ps", "-a", APP).stdout,
        60,
        interval=0.2,
        what=f"{dyno} to be gone after ps:stop",
    )


def test_restarting_a_one_off_dyno_stops_it(dev: User, server: CoveServer) -> None:
    """One-off dynos are never restarted: `ps:restart run.N` (the CLI) and `DELETE
    /apps/{app}/dynos/run.N` (the API) stop them; an unknown one is a 404."""
    dynos = []
    for _ in range(2):
        started = dev.cove("run:detached", "-a", APP, "sleep 300")
        dynos.append(started.stderr.strip().rsplit(" ", 1)[-1])

    def up() -> bool:
        listing = dev.cove("ps", "-a", APP).stdout
        return all(re.search(rf"^{re.escape(d)} .*: up ", listing, re.M) for d in dynos)

    wait_for(up, 60, interval=0.2, what=f"{dynos} up in cove ps")
    by_cli, by_api = dynos
    dev.cove("ps:restart", by_cli, "-a", APP)
    assert server.api("DELETE", f"/apps/{APP}/dynos/{by_api}").status_code == 202
    for dyno in dynos:
        wait_for(
            lambda dyno=dyno: dyno not in dev.cove("ps", "-a", APP).stdout,
            60,
            interval=0.2,
            what=f"{dyno} gone, not restarted, after a restart",
        )
    unknown = server.api("DELETE", f"/apps/{APP}/dynos/run.1")
    assert unknown.status_code == 404 and "run.1" in unknown.json()["message"]


def test_run_without_a_release_is_a_clear_error(dev: User) -> None:
    dev.cove("apps:create", "run-cli-empty")
    result = dev.cove("run", "-a", "run-cli-empty", "bash", check=False)
    assert result.returncode == 1
    assert "Running bash on ⬢ run-cli-empty... !" in result.stderr
    assert "run-cli-empty has no release to run yet: deploy with git push first" in result.stderr


def test_run_without_a_command_is_a_usage_error(dev: User) -> None:
    result = dev.cove("run", "-a", APP, check=False)
    assert result.returncode == 2
    assert "Missing argument 'COMMAND...'" in result.stderr


def test_a_wrong_secret_is_refused(dev: User, server: CoveServer) -> None:
    answer = server.api("POST", f"/apps/{APP}/dynos", json={"command": "true", "attach": True})
    assert answer.status_code == 201, answer.text
    url = AttachUrl.parse(answer.json()["attach_url"])
    wrong = AttachUrl(url.host, url.port, url.secret[::-1])
    session = Attachment(
        wrong,
        client_context(server.ca_file),
        read_stdin=lambda n: b"",
        stdout=open(os.devnull, "wb"),  # noqa: SIM115 - closed with the session below
        tty=False,
        crlf_to_lf=False,
    )
    try:
        with pytest.raises(RendezvousError, match="closed the connection without a greeting"):
            session.run()
    finally:
        session.stdout.close()


def test_interrupting_a_piped_run_exits_with_the_signal(dev: User) -> None:
    """Ctrl-C in a shell without a terminal for the CLI (SIGINT): the CLI ends at once."""
    proc = subprocess.Popen(
        [*COVE, "run", "-a", APP, "--no-tty", "echo started; sleep 100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dev.env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 128 + signal.SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exit_code_and_size_flags_and_stdin_eof(dev: User) -> None:
    """`-x` and `--size` as Heroku's CLI takes them: the dyno runs at that size (ps shows it
    while the command waits on stdin), and the end of the piped stdin ends the command."""
    proc = subprocess.Popen(
        [*COVE, "run", "-x", "--size", "standard-2x", "-a", APP, "echo $DYNO; cat; exit 4"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dev.env,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        name = proc.stdout.readline().decode().strip()
        assert re.fullmatch(r"run\.\d+", name), name
        ps = dev.cove("ps", "-a", APP).stdout
        assert re.search(rf"^{re.escape(name)} \(Standard-2X\): up .*: echo", ps, re.M), ps
        proc.stdin.write(b"through-cat\n")
        proc.stdin.close()  # EOF: cat ends, then the shell exits 4
        assert proc.stdout.read() == b"through-cat\n"
        assert proc.wait(60) == 4
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_unknown_app_is_a_clear_error(dev: User) -> None:
    result = dev.cove("run", "-a", "no-such-app", "bash", check=False)
    assert result.returncode == 1
    assert "Running bash on ⬢ no-such-app... !" in result.stderr
    assert "Couldn't find that app." in result.stderr, result.stderr


def test_an_unknown_size_is_a_clear_error(dev: User) -> None:
    result = dev.cove("run", "-a", APP, "--size", "huge", "true", check=False)
    assert result.returncode == 1
    assert "Invalid dyno size 'huge'" in result.stderr, result.stderr


def test_a_bad_env_entry_is_a_usage_error(dev: User) -> None:
    result = dev.cove("run", "-a", APP, "-e", "A=1;oops", "true", check=False)
    assert result.returncode == 2
    assert "Invalid --env entry #2" in result.stderr, result.stderr
