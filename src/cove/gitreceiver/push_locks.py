"""One push at a time per app, and no rename while one runs: the lock each app's pushes
take, kept by app id (the name may change)."""

from __future__ import annotations

import asyncio

_locks: dict[str, asyncio.Lock] = {}


def push_lock(app_id: str) -> asyncio.Lock:
    return _locks.setdefault(app_id, asyncio.Lock())
