"""Heroku's log line: ``<timestamp> <source>[<dyno>]: <message>``."""

from __future__ import annotations

from datetime import UTC, datetime

MAX_LINE_BYTES = 10000


def timestamp(moment: datetime | None = None) -> str:
    """RFC 5424 time with microseconds and an explicit offset, as Logplex prints it."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def format_line(source: str, dyno: str, message: str, moment: datetime | None = None) -> str:
    prefix = f"{source}[{dyno}]" if dyno else source
    return f"{timestamp(moment)} {prefix}: {message}"


def split_long(message: str) -> list[str]:
    """Logplex splits lines longer than 10000 bytes into chunks."""
    data = message.encode()
    if len(data) <= MAX_LINE_BYTES:
        return [message]
    return [
        data[i : i + MAX_LINE_BYTES].decode(errors="replace")
        for i in range(0, len(data), MAX_LINE_BYTES)
    ]
