"""A local dyno's output reader, with a real child process: should reading its output
ever fail, the dyno is killed and its exit still reported (never a zombie ``up``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from cove.dynos.backend import DynoSpec, stop_dyno
from cove.dynos.local import LocalDyno, _is_zombie
from cove.logs import LogFilter, LogRouter, ProcessOutput

# Writes a line, then more than a pipe holds, then waits: it only ends when killed.
CHATTY = (
    "import sys, time; print('hello', flush=True); sys.stdout.write('x' * 305000); time.sleep(60)"
)


class BrokenOutput(ProcessOutput):
    """Stands for a bug anywhere on the way from the pipe to the log."""

    def write(self, chunk: bytes) -> float:
        raise RuntimeError("a bug in the log path")


def spec(tmp_path: Path) -> DynoSpec:
    return DynoSpec(
        id="d1",
        app_id="a",
        app_name="app",
        name="web.1",
        type="web",
        command="python",
        size="standard-1x",
        release_version=1,
        revision="v1.0",
        slug=tmp_path / "slug",
        config={},
    )


async def start(tmp_path: Path, output: ProcessOutput) -> LocalDyno:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHATTY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    return LocalDyno(spec(tmp_path), proc, tmp_path / "root", None, output, None)


def test_a_dyno_whose_output_cannot_be_read_is_killed_and_reports_its_exit(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[int, list[str]]:
        logs = LogRouter()
        dyno = await start(tmp_path, BrokenOutput(logs, "a", "web.1"))
        status = await asyncio.wait_for(dyno.wait_exit(), 30)
        assert dyno.has_exited()
        # Stopping it afterwards (ps:restart, scale down, shutdown) is harmless.
        assert await asyncio.wait_for(stop_dyno(dyno, 1), 5) == status
        return status, [line.split(" ", 1)[1] for line in logs.recent("a", 10, LogFilter())]

    status, logged = asyncio.run(scenario())
    assert status == 137  # SIGKILL
    assert logged == [
        "heroku[web.1]: Error R99 (Platform error) -> Could not read its output; it is stopped",
        "heroku[web.1]: Stopping process with SIGKILL",
    ]


def test_a_dyno_writing_more_than_a_pipe_holds_without_newline_keeps_being_read(
    tmp_path: Path,
) -> None:
    async def scenario() -> list[str]:
        logs = LogRouter()
        dyno = await start(tmp_path, logs.process_output("a", "web.1"))

        def messages() -> list[str]:
            return [line.split(": ", 1)[1] for line in logs.recent("a", 100, LogFilter())]

        deadline = asyncio.get_running_loop().time() + 30
        while len(messages()) < 31:  # "hello" and 30 pieces of 10000 bytes, before exit
            assert asyncio.get_running_loop().time() < deadline, messages()
            await asyncio.sleep(0.01)
        dyno.kill()
        assert await asyncio.wait_for(dyno.wait_exit(), 30) == 137
        return messages()

    messages = asyncio.run(scenario())
    # The rest of the line, without a newline, is logged when the output ends.
    assert messages == ["hello"] + ["x" * 10000] * 30 + ["x" * 5000]


def test_a_zombie_is_told_from_a_running_or_reaped_process() -> None:
    """What the local dyno's exit diagnostic reads: exited, not yet reaped."""
    child = subprocess.Popen(["sleep", "30"])
    assert not _is_zombie(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while not _is_zombie(child.pid):  # (not child.poll(): that would reap it)
        assert time.monotonic() < deadline, "the killed child never became a zombie"
        time.sleep(0.01)
    child.wait()
    assert not _is_zombie(child.pid)
