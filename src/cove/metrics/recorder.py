"""The in-memory side: what happened in the current window (normally one wall-clock
minute), per app, until the flusher takes it (``roll``) and writes it to the store.

Everything runs on the server's event loop thread (the router's callbacks, the dyno
manager's memory checks, the flusher), so there are no locks. A request costs a dict
lookup and a few list-slot increments: the window's counters are allocated once per app
per window, never per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cove.metrics.latency import BOUNDS, bucket


@dataclass(frozen=True)
class AppPoint:
    """One app's window: what the store keeps per app and minute."""

    app_id: str
    minute: int  # Unix time // 60 of the window's middle
    statuses: list[int]  # requests by status class: [other, 1xx, 2xx, 3xx, 4xx, 5xx]
    latency: dict[int, int]  # response-time histogram: bucket -> requests (latency.py)
    errors: dict[str, int]  # H and R error code -> occurrences
    memory: dict[str, list[int]]  # dyno name -> [samples, sum of bytes, max bytes]


class _Window:
    __slots__ = ("errors", "latency", "memory", "statuses")

    def __init__(self) -> None:
        self.statuses = [0] * 6
        self.latency = [0] * len(BOUNDS)
        self.errors: dict[str, int] = {}
        self.memory: dict[str, list[int]] = {}


class Recorder:
    def __init__(self, app_ids: Mapping[str, str], now: float) -> None:
        """``app_ids``: app name -> id, kept current by the route feed (the router knows
        apps by name; the store keeps metrics by id, so a rename keeps the history)."""
        self._app_ids = app_ids
        self._apps: dict[str, _Window] = {}
        self._started = now

    def _window(self, app_id: str) -> _Window:
        window = self._apps.get(app_id)
        if window is None:
            window = self._apps[app_id] = _Window()
        return window

    def request(self, app: str, status: int, service: float | None, error: str | None) -> None:
        """One request the router answered (or an app of its answered for it), as logged:
        ``service`` in seconds (None when no dyno was tried), ``error`` its H code."""
        app_id = self._app_ids.get(app)
        if app_id is None:
            return
        window = self._apps.get(app_id) or self._window(app_id)
        window.statuses[status // 100 if 100 <= status < 600 else 0] += 1
        if service is not None:
            window.latency[bucket(service)] += 1
        if error is not None:
            window.errors[error] = window.errors.get(error, 0) + 1

    def memory(self, app_id: str, dyno: str, used: int) -> None:
        """A memory check's reading for one dyno, in bytes."""
        stats = self._window(app_id).memory.get(dyno)
        if stats is None:
            self._apps[app_id].memory[dyno] = [1, used, used]
        else:
            stats[0] += 1
            stats[1] += used
            if used > stats[2]:
                stats[2] = used

    def dyno_error(self, app_id: str, code: str) -> None:
        """An R error (R10 boot timeout, R14/R15 memory) of one of the app's dynos."""
        errors = self._window(app_id).errors
        errors[code] = errors.get(code, 0) + 1

    def roll(self, now: float) -> list[AppPoint]:
        """Close the current window (stamped with the minute of its middle) and start the
        next; returns what it recorded, per app that had anything."""
        apps, self._apps = self._apps, {}
        minute = int((self._started + now) / 2 // 60)
        self._started = now
        return [
            AppPoint(
                app_id,
                minute,
                w.statuses,
                {i: n for i, n in enumerate(w.latency) if n},
                w.errors,
                w.memory,
            )
            for app_id, w in apps.items()
        ]
