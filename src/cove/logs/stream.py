"""The output of a build or a release phase: appended by its producer, followed live by
any number of readers (the git hook streaming it as ``remote:`` lines,
``GET output_stream_url``), and kept in a file for later readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path


class OutputStream:
    def __init__(self, log_file: Path, on_line: Callable[[str], None]) -> None:
        self.lines: list[str] = []
        self.done = False
        self._changed = asyncio.Condition()
        self._file = log_file.open("a", encoding="utf-8")
        self._on_line = on_line

    def write(self, line: str) -> None:
        line = line.rstrip("\n")
        self.lines.append(line)
        self._file.write(line + "\n")
        self._on_line(line)
        asyncio.get_running_loop().create_task(self._wake())

    def step(self, text: str) -> None:
        self.write(f"-----> {text}")

    def detail(self, text: str) -> None:
        self.write(f"       {text}")

    def error(self, text: str) -> None:
        self.write(f" !     {text}")

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def close(self) -> None:
        self.done = True
        self._file.close()
        await self._wake()

    async def follow(self) -> AsyncIterator[str]:
        sent = 0
        while True:
            while sent < len(self.lines):
                yield self.lines[sent]
                sent += 1
            if self.done:
                return
            async with self._changed:
                if sent == len(self.lines) and not self.done:
                    await self._changed.wait()
