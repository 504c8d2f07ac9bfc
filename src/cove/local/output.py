"""How `cove local` prints: ``HH:MM:SS web.1    | line``, the prefix in a colour per
process when stdout is a terminal (magenta, blue, cyan, green, yellow, red, as `heroku
local` cycles them)."""

from __future__ import annotations

import time
from collections.abc import Sequence

RESET = "\x1b[0m"
COLORS = ("\x1b[35m", "\x1b[34m", "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m")
INFO_COLOR = "\x1b[36m"
ERROR_COLOR = "\x1b[31m"
# A line longer than this is printed in pieces, so one process can't grow our memory.
MAX_LINE = 16 * 1024


class Printer:
    def __init__(self, names: Sequence[str], *, color: bool) -> None:
        self.width = max((len(name) for name in names), default=0)
        self.color = color
        self._colors = {name: COLORS[i % len(COLORS)] for i, name in enumerate(names)}

    def prefix(self, name: str, now: float | None = None) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        text = f"{stamp} {name.ljust(self.width)} | "
        return self._paint(self._colors.get(name, ""), text)

    def line(self, name: str, text: str, now: float | None = None) -> str:
        return self.prefix(name, now) + text

    def info(self, name: str, text: str) -> str:
        return self.prefix(name) + self._paint(INFO_COLOR, text)

    def error(self, name: str, text: str) -> str:
        return self.prefix(name) + self._paint(ERROR_COLOR, text)

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color and code else text


class LineSplitter:
    """Bytes from a pipe → complete lines; ``flush`` hands out a trailing partial line
    (output that never ends with a newline still shows)."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._buffer = b""
        self._limit = limit

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        while len(self._buffer) > self._limit:
            complete.append(self._buffer[: self._limit])
            self._buffer = self._buffer[self._limit :]
        return [text for raw in complete if (text := _decode(raw)).strip()]

    def flush(self) -> list[str]:
        raw, self._buffer = self._buffer, b""
        text = _decode(raw)
        return [text] if text.strip() else []


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")
