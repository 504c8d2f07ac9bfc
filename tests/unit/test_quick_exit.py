"""How `cove` and `cove server` processes end: with their status and all of their output,
their atexit hooks run, but without the interpreter's teardown of every module
(cove.quick_exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "cove.cli.main"]


def test_output_to_a_pipe_is_flushed_before_the_process_ends() -> None:
    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "cove, version 0.1.0\n")


def test_a_usage_error_keeps_its_status_and_message() -> None:
    done = subprocess.run([*CLI, "bogus"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "No such command 'bogus'" in done.stderr


def test_atexit_hooks_still_run() -> None:
    source = (
        "import atexit, sys; from cove.cli.main import main; "
        "atexit.register(print, 'hook ran'); sys.argv = ['cove', '--version']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.splitlines() == ["cove, version 0.1.0", "hook ran"]


def test_a_reader_gone_before_the_output_ends_it_quietly() -> None:
    process = subprocess.Popen([*CLI, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # (before the help is written: it meets a broken pipe)
    assert process.stderr.read() == b""
    assert process.wait(60) == 1


def test_a_server_refusing_to_start_says_why_with_its_status(tmp_path: Path) -> None:
    env = {**os.environ, "COVE_HOME": str(tmp_path / "home"), "COVE_API_PORT": "x"}
    done = subprocess.run(
        [sys.executable, "-m", "cove.server"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith("cove server: ")
    assert "Traceback" not in done.stderr
