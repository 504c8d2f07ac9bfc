"""Heroku's dyno sizes and the resources Cove gives each: memory quota (R14 above it, R15
and a kill at twice it), CPU share and a process/thread cap."""

from __future__ import annotations

from dataclasses import dataclass

from cove.domain.errors import InvalidParams

MB = 1024 * 1024


@dataclass(frozen=True)
class DynoSize:
    name: str
    memory_mb: int  # the quota: R14 above it
    cpu_share: int  # relative CPU weight ("1x", "2x", ...)
    pids: int  # processes + threads

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MB

    @property
    def kill_bytes(self) -> int:
        """R15: Heroku kills a Common Runtime dyno at twice its quota."""
        return 2 * self.memory_bytes


# Memory and CPU shares from Heroku's dyno types; process caps from its 2014 limits
# (1X 256, 2X 512, performance 32768), with Performance-M between the two.
SIZES: dict[str, DynoSize] = {
    s.name: s
    for s in (
        DynoSize("eco", 512, 1, 256),
        DynoSize("basic", 512, 1, 256),
        DynoSize("standard-1x", 512, 1, 256),
        DynoSize("standard-2x", 1024, 2, 512),
        DynoSize("performance-m", 2560, 12, 16384),
        DynoSize("performance-l", 14336, 50, 32768),
    )
}
DEFAULT_SIZE = "standard-1x"


def parse_size(value: object) -> str:
    """A size name as given by a user (any case) → the canonical name."""
    size = str(value).strip().lower()
    if size not in SIZES:
        raise InvalidParams(f"Invalid dyno size {value!r}. Sizes: {', '.join(SIZES)}.")
    return size


def dyno_size(name: str) -> DynoSize:
    return SIZES.get(name, SIZES[DEFAULT_SIZE])


def memory_verdict(size: DynoSize, usage: int | None, oom_killed: bool) -> str | None:
    """What a memory check of a dyno finds: "R15" at twice the quota or after the kernel
    killed one of its processes at that limit, "R14" above the quota, else None."""
    if oom_killed or (usage is not None and usage >= size.kill_bytes):
        return "R15"
    if usage is not None and usage > size.memory_bytes:
        return "R14"
    return None
