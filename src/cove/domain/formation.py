"""The dyno manager's pure core: which dynos should run, and what to change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DesiredDyno:
    app_id: str
    name: str  # "web.1"
    type: str
    command: str
    release_version: int
    slug_id: str
    # Changes on every new release and every restart request; a running dyno with another
    # revision is replaced.
    revision: str


@dataclass(frozen=True)
class RunningDyno:
    id: str
    app_id: str
    name: str
    revision: str
    up: bool  # serving (web) or started (other types)


@dataclass(frozen=True)
class Plan:
    start: tuple[DesiredDyno, ...]
    stop: tuple[RunningDyno, ...]


def desired_dynos(
    app_id: str,
    release_version: int,
    slug_id: str,
    process_types: Mapping[str, str],
    quantities: Mapping[str, int],
    restarts: Mapping[str, int],
    sizes: Mapping[str, str] | None = None,
) -> list[DesiredDyno]:
    """``restarts`` counts restart requests per process type (``"*"`` for the whole app).
    A dyno's size is part of its revision: resizing replaces the dynos, as on Heroku."""
    dynos = []
    for type_, quantity in sorted(quantities.items()):
        command = process_types.get(type_)
        if command is None or type_ == "release":
            continue
        for index in range(1, quantity + 1):
            name = f"{type_}.{index}"
            revision = (
                f"v{release_version}.{restarts.get('*', 0)}.{restarts.get(type_, 0)}"
                f".{restarts.get(name, 0)}"
            )
            if sizes and type_ in sizes:
                revision += f".{sizes[type_]}"
            dynos.append(
                DesiredDyno(app_id, name, type_, command, release_version, slug_id, revision)
            )
    return dynos


def plan(desired: Iterable[DesiredDyno], running: Iterable[RunningDyno]) -> Plan:
    """Diff desired against running.

    A slot (app, name) whose dyno runs another revision gets a new dyno started beside it;
    the old one is stopped only once its replacement is up, so a web slot never goes dark
    (Heroku's preboot). Dynos whose slot is no longer desired are stopped.
    """
    want = {(d.app_id, d.name): d for d in desired}
    by_slot: dict[tuple[str, str], list[RunningDyno]] = {}
    for r in running:
        by_slot.setdefault((r.app_id, r.name), []).append(r)

    start: list[DesiredDyno] = []
    stop: list[RunningDyno] = []
    for slot, dyno in want.items():
        current = [r for r in by_slot.get(slot, []) if r.revision == dyno.revision]
        stale = [r for r in by_slot.get(slot, []) if r.revision != dyno.revision]
        if not current:
            start.append(dyno)
        elif any(r.up for r in current):
            stop.extend(stale)
    for slot, dynos in by_slot.items():
        if slot not in want:
            stop.extend(dynos)
    return Plan(tuple(start), tuple(stop))
