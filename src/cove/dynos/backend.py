"""The interface between the dyno manager and where dynos run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class DynoSpec:
    id: str
    app_id: str
    app_name: str
    name: str  # "web.1"
    type: str
    command: str
    size: str
    release_version: int
    revision: str
    slug: Path
    config: Mapping[str, str]


class DynoHandle(Protocol):
    spec: DynoSpec
    host: str
    port: int | None

    async def wait_up(self, timeout: float) -> bool:
        """True once the dyno serves (web: accepts TCP on $PORT); False on timeout/exit."""
        ...

    def has_exited(self) -> bool: ...

    async def wait_exit(self) -> int:
        """The exit status once the dyno's process has ended."""
        ...

    async def stop(self, grace: float) -> int:
        """SIGTERM every process of the dyno, SIGKILL after ``grace`` seconds; the status."""
        ...


class Backend(Protocol):
    async def start(self, spec: DynoSpec, on_output: Callable[[str], None]) -> DynoHandle: ...
