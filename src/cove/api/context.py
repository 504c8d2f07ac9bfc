"""What API handlers need, built once by the composition root (``cove.server``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cove.addons import Registry
from cove.builder import Builder
from cove.logs import LogFilter, LogRouter
from cove.settings import Settings
from cove.store import Store

if TYPE_CHECKING:
    from cove.dynos.one_off_dynos import OneOffDynos

LOG_SESSION_TTL = 3600.0


@dataclass(frozen=True)
class LogSession:
    app_id: str
    lines: int
    tail: bool
    where: LogFilter
    created: float


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    logs: LogRouter
    builder: Builder
    # A release command's output, live (``ReleasePhase.follow``).
    follow_release: Callable[[str], AsyncIterator[str]]
    addons: Registry
    log_sessions: dict[str, LogSession] = field(default_factory=dict)
    # A running dyno's memory use in bytes, by dyno id (``DynoManager.memory_usage``).
    dyno_memory: Callable[[str], int | None] = lambda _dyno_id: None
    # `cove run`'s dynos (POST /apps/{app}/dynos).
    one_off_dynos: OneOffDynos | None = None

    def new_log_session(self, session: LogSession) -> str:
        """Log sessions are capability URLs (the CLI fetches them without credentials)."""
        now = time.monotonic()
        for key, old in list(self.log_sessions.items()):
            if now - old.created > LOG_SESSION_TTL:
                del self.log_sessions[key]
        token = secrets.token_urlsafe(24)
        self.log_sessions[token] = session
        return token
