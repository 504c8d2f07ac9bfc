"""Log lines out of a process's output as it arrives from a pipe, in chunks of any size.

A line longer than Logplex's 10000 bytes is cut into pieces of at most that many bytes as
it arrives (at the start of a UTF-8 character), so no line, however long, is ever held
whole or lost. Lines beyond what the caller wants to keep are only counted: a flood costs
a byte count, not a Python object per line."""

from __future__ import annotations

import sys

from cove.domain.logline import MAX_LINE_BYTES


class LineSplitter:
    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._partial = b""

    def feed(self, chunk: bytes, keep: int = sys.maxsize) -> tuple[list[bytes], int]:
        """The lines ``chunk`` completes: at most ``keep`` of them (the first ones), and how
        many more it completed (a skipped line counts once however long it is)."""
        data = self._partial + chunk if self._partial else chunk
        end = data.rfind(b"\n")
        lines: list[bytes] = []
        skipped = 0
        if end >= 0 and keep <= 0:
            skipped = data.count(b"\n")  # each newline ends a line
            data = data[end + 1 :]
        elif end >= 0:
            parts = data[:end].split(b"\n", keep)
            data = data[end + 1 :]
            if len(parts) > keep:
                skipped = parts.pop().count(b"\n") + 1
            for part in parts:
                if len(part) > self.limit:
                    lines.extend(self._pieces(part))
                else:
                    lines.append(part)
        # The unfinished line leaves in pieces as soon as it is longer than a line may be.
        while len(data) > self.limit:
            cut = self._cut(data)
            lines.append(data[:cut])
            data = data[cut:]
        self._partial = data
        if len(lines) > keep:
            skipped += len(lines) - max(keep, 0)
            del lines[max(keep, 0) :]
        return lines, skipped

    def flush(self) -> bytes | None:
        """The last line, left without a newline when the output ended."""
        rest, self._partial = self._partial, b""
        return rest or None

    def _pieces(self, line: bytes) -> list[bytes]:
        pieces = []
        while len(line) > self.limit:
            cut = self._cut(line)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
        return pieces

    def _cut(self, data: bytes) -> int:
        """Where to cut ``data`` (longer than the limit): at the limit, moved back to the
        start of a UTF-8 character if it falls inside one (not for bytes that aren't UTF-8)."""
        for cut in range(self.limit, max(self.limit - 4, 0), -1):
            if data[cut] & 0xC0 != 0x80:  # not a continuation byte: a character starts here
                return cut
        return self.limit
