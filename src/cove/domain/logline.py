"""Heroku's log line: ``<timestamp> <source>[<dyno>]: <message>``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

MAX_LINE_BYTES = 10000


def timestamp(moment: datetime | None = None) -> str:
    """RFC 5424 time with microseconds and an explicit offset, as Logplex prints it."""
    if moment is None:
        return _now()
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# The current second and its formatted date and time, kept between calls: every log line
# (one per request from the router, another from the app) is stamped, and strftime is most
# of a stamp's cost. One tuple, replaced whole: threads that log read it consistently.
_second: tuple[int, str] = (-1, "")


def _now() -> str:
    global _second
    now = time.time()
    whole = int(now)
    micros = round((now - whole) * 1_000_000)  # rounded as datetime.fromtimestamp does
    if micros == 1_000_000:
        whole += 1
        micros = 0
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{micros:06d}+00:00"


def format_line(source: str, dyno: str, message: str, moment: datetime | None = None) -> str:
    prefix = f"{source}[{dyno}]" if dyno else source
    return f"{timestamp(moment)} {prefix}: {message}"


def split_long(message: str) -> list[str]:
    """Logplex splits lines longer than 10000 bytes into chunks."""
    if len(message) <= MAX_LINE_BYTES // 4:  # (UTF-8 spends at most 4 bytes a character)
        return [message]
    data = message.encode()
    if len(data) <= MAX_LINE_BYTES:
        return [message]
    return [
        data[i : i + MAX_LINE_BYTES].decode(errors="replace")
        for i in range(0, len(data), MAX_LINE_BYTES)
    ]
