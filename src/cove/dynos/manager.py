"""The dyno manager: the single owner of running dynos.

It lists the store, then watches its events; any change to an app marks the app dirty, and
one loop reconciles dirty apps (requests coalesce). The diff itself is the pure
``cove.domain.formation.plan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from cove.builder import slug_path
from cove.domain import formation as plan_
from cove.domain.dyno_sizes import MB, dyno_size, memory_verdict
from cove.dynos.backend import (
    ONE_OFF_TYPE,
    Backend,
    DynoHandle,
    DynoSpec,
    new_row,
    stop_dyno,
)
from cove.logs import LogRouter
from cove.metrics.recorder import Recorder
from cove.services import releases
from cove.settings import Settings
from cove.store import App, Dyno, Formation, Slug, Store

log = logging.getLogger(__name__)

# Heroku's crash cool-off after the first (immediate) restart, in minutes; scaled by
# COVE_CRASH_BACKOFF_SCALE for tests and impatient operators. A dyno that stayed up this
# long before crashing starts the count afresh.
CRASH_BACKOFF_MINUTES = (20, 40, 60, 180, 320)
CRASH_RESET_MINUTES = 10
RECONCILE_EVENTS = {
    "release.updated",
    "app.created",
    "app.destroyed",
    "release.created",
    "formation.changed",
    "app.restart",
    "dyno.stop",
}


@dataclass
class _Running:
    handle: DynoHandle
    state: str = "starting"  # starting | up | stopping
    task: asyncio.Task[None] | None = None
    up_since: float | None = None
    cycling: bool = False  # due for its daily replacement
    memory: int | None = None  # bytes, at the last memory check (for R14/R15 lines)
    oom_kills: int = 0  # kernel OOM kills already reported as R15


def crash_delay(crashes: int, scale: float) -> float:
    """Seconds before restarting a dyno after its ``crashes``-th crash in a row: the first
    restart is immediate, then Heroku's cool-off schedule."""
    if crashes <= 1:
        return 0.0
    minutes = CRASH_BACKOFF_MINUTES[min(crashes - 2, len(CRASH_BACKOFF_MINUTES) - 1)]
    return minutes * 60 * scale


def detached_hint(left: int) -> str:
    """Why a dyno whose command exited 0 while its children ran on crashed."""
    running = "1 process" if left == 1 else f"{left} processes"
    return (
        f"The command exited while {running} it started kept running in the background "
        "(stopped with it): a dyno's command must stay in the foreground, so run servers "
        "without --daemon and without a trailing &"
    )


def _sample_memory(entries: list[_Running]) -> list[tuple[int | None, int]]:
    """(memory in use, OOM kills so far) of each dyno: a few small file reads each."""
    return [(e.handle.memory_usage(), e.handle.oom_kills()) for e in entries]


@dataclass(frozen=True)
class _Target:
    app_name: str
    desired: list[plan_.DesiredDyno]
    config: dict[str, str]
    sizes: dict[str, str]  # process type -> dyno size
    slug: Path | None
    uid: int | None = None


@dataclass
class _Crashes:
    count: int = 0
    restart_at: float = 0.0


@dataclass
class DynoManager:
    settings: Settings
    store: Store
    backend: Backend
    logs: LogRouter
    metrics: Recorder | None = None  # memory readings and R errors, for the dashboard
    _running: dict[str, _Running] = field(default_factory=dict)
    _crashes: dict[tuple[str, str, str], _Crashes] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Dyno launches under way at once (each runs ip, nft and bwrap): enough to overlap
    # their waits on 2 cores, few enough not to flood a small host at a restart.
    _launches: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))

    # -- main loops ----------------------------------------------------------------------
    async def run(self) -> None:
        """Owner loop: restore every app's formation, then follow the event log."""
        cursor = await asyncio.to_thread(self.store.last_event_id)
        with self.store.session() as s:
            self._dirty.update(s.scalars(select(App.id)))
        self._wake.set()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._reconcile_loop())
            group.create_task(self._memory_loop())
            async for event in self.store.watch(cursor):
                if event.kind == "dyno.stop" and event.app_id:
                    self._stop_matching(event.app_id, event.payload["target"])
                elif event.kind in RECONCILE_EVENTS and event.app_id:
                    self.mark_dirty(event.app_id)

    def mark_dirty(self, app_id: str) -> None:
        self._dirty.add(app_id)
        self._wake.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            # Apps are independent: reconciled side by side (a restart with many apps, a
            # promotion to several targets), with a cap on dyno launches at once (_start);
            # an app marked dirty meanwhile waits for the next pass, so one app's passes
            # never overlap.
            await asyncio.gather(*(self._reconcile_logged(app_id) for app_id in dirty))

    async def _reconcile_logged(self, app_id: str) -> None:
        try:
            await self._reconcile(app_id)
        except Exception:
            log.exception("reconcile failed app_id=%s", app_id)

    async def close(self) -> None:
        """Stop every dyno (used on server shutdown), waiting for each."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(stop_dyno(r.handle, self.settings.stop_grace) for r in self._running.values()),
            return_exceptions=True,
        )
        self._running.clear()

    # -- reconcile -----------------------------------------------------------------------
    def _target(self, app_id: str) -> _Target | None:
        """What should run for the app: its current release's dynos, sizes and slug
        (None if the app is gone; no dynos if it has no release with a slug)."""
        with self.store.session() as s:
            app = s.get(App, app_id)
            if app is None:
                return None
            release = releases.current_with_slug(s, app_id)
            if release is None:
                return _Target(app.name, [], {}, {}, None, app.uid)
            slug = s.get(Slug, release.slug_id)
            assert slug is not None
            rows = list(s.scalars(select(Formation).where(Formation.app_id == app_id)))
            sizes = {f.type: f.size for f in rows}
            desired = plan_.desired_dynos(
                app_id,
                release.version,
                slug.id,
                slug.process_types,
                {f.type: f.quantity for f in rows},
                app.restarts,
                sizes,
            )
            return _Target(
                app.name,
                desired,
                dict(release.config),
                sizes,
                slug_path(self.settings.slugs_dir, slug.checksum),
                app.uid,
            )

    async def _reconcile(self, app_id: str) -> None:
        target = await asyncio.to_thread(self._target, app_id)
        mine = {i: r for i, r in self._running.items() if r.handle.spec.app_id == app_id}
        running = [
            plan_.RunningDyno(
                i,
                app_id,
                r.handle.spec.name,
                # A dyno due for cycling reads as stale: it is replaced like on a new release.
                r.handle.spec.revision + ("~cycle" if r.cycling else ""),
                r.state == "up",
            )
            for i, r in mine.items()
            if r.state != "stopping"
        ]
        actions = plan_.plan(target.desired if target else [], running)
        loop = asyncio.get_running_loop()
        for stale in actions.stop:
            self._spawn(self._stop(stale.id, "down"))
        starts = []
        for want in actions.start:
            crash = self._crashes.get((app_id, want.name, want.revision))
            if crash and crash.restart_at > loop.time():
                loop.call_at(crash.restart_at, self.mark_dirty, app_id)
                continue
            assert target is not None and target.slug is not None
            spec = DynoSpec(
                id=str(uuid.uuid4()),
                app_id=app_id,
                app_name=target.app_name,
                name=want.name,
                type=want.type,
                command=want.command,
                size=target.sizes.get(want.type, "standard-1x"),
                release_version=want.release_version,
                revision=want.revision,
                slug=target.slug,
                config=target.config,
                uid=target.uid,
            )
            starts.append(self._start(spec))
        # An app's new dynos launch side by side too (a scale-out to web=32, a release of
        # many dynos), within the cap on launches at once.
        await asyncio.gather(*starts)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one dyno ------------------------------------------------------------------------
    def _system(self, spec: DynoSpec, message: str) -> None:
        self.logs.publish(spec.app_id, "heroku", spec.name, message)

    async def _start(self, spec: DynoSpec) -> None:
        self._system(spec, f"Starting process with command `{spec.command}`")
        await asyncio.to_thread(self._write_row, spec, "starting", None)
        try:
            async with self._launches:
                handle = await self.backend.start(
                    spec,
                    self.logs.process_output(spec.app_id, spec.name),
                    lambda message: self._system(spec, message),
                )
        except Exception as exc:
            self._system(spec, f"Failed to start: {exc}")
            await self._record_crash(spec, None)
            return
        entry = _Running(handle)
        self._running[spec.id] = entry
        await asyncio.to_thread(self._write_row, spec, "starting", handle)
        entry.task = asyncio.get_running_loop().create_task(self._supervise(entry))
        self._tasks.add(entry.task)
        entry.task.add_done_callback(self._tasks.discard)

    async def _supervise(self, entry: _Running) -> None:
        spec, handle = entry.handle.spec, entry.handle
        up = await handle.wait_up(self.settings.boot_timeout)
        if entry.state == "stopping":
            return
        if up:
            entry.state = "up"
            entry.up_since = asyncio.get_running_loop().time()
            self._system(spec, "State changed from starting to up")
            # With its address: a swarm dyno's node is known only once its task runs.
            await asyncio.to_thread(self._write_row, spec, "up", handle)
            self.mark_dirty(spec.app_id)  # its stale predecessor can now stop
            cycle = self.settings.dyno_cycle_seconds + random.uniform(
                0, self.settings.dyno_cycle_jitter_seconds
            )
            asyncio.get_running_loop().call_later(cycle, self._cycle, spec.id)
        elif not handle.has_exited():
            self._system(
                spec,
                "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                f"{self.settings.boot_timeout:.0f} seconds of launch",
            )
            if self.metrics is not None:
                self.metrics.dyno_error(spec.app_id, "R10")
            handle.kill()
        status = await self._exit_status(handle)
        if entry.state == "stopping":
            return
        oom_kills = handle.oom_kills()  # kept from its cgroup: no I/O once it has exited
        if oom_kills > entry.oom_kills:  # the kernel stopped it at the hard limit
            entry.oom_kills = oom_kills
            self._memory_error(entry, "R15")
        self._running.pop(spec.id, None)
        if status is not None:
            self._system(spec, f"Process exited with status {status}")
            left = handle.left_running()
            if status == 0 and left:  # it daemonized (gunicorn --daemon, `cmd &`)
                self._system(spec, detached_hint(left))
        self._system(spec, f"State changed from {entry.state} to crashed")
        await self._record_crash(spec, entry.up_since)

    @staticmethod
    async def _exit_status(handle: DynoHandle) -> int | None:
        """The dyno's exit status. Should the backend fail to tell, the dyno is killed and
        its status is unknown (None): it is still reported as crashed or stopped."""
        try:
            return await handle.wait_exit()
        except Exception:
            log.exception("waiting for dyno %s to exit failed", handle.spec.id)
            with contextlib.suppress(Exception):
                handle.kill()
            return None

    async def _record_crash(self, spec: DynoSpec, up_since: float | None) -> None:
        key = (spec.app_id, spec.name, spec.revision)
        crash = self._crashes.setdefault(key, _Crashes())
        now = asyncio.get_running_loop().time()
        reset_after = CRASH_RESET_MINUTES * 60 * self.settings.crash_backoff_scale
        if up_since is not None and now - up_since >= reset_after:
            crash.count = 0
        crash.count += 1
        delay = crash_delay(crash.count, self.settings.crash_backoff_scale)
        crash.restart_at = now + delay
        if delay:
            self._system(spec, f"Crashed {crash.count} times in a row: restarting in {delay:.0f} s")
        await self._set_state(spec, "crashed")
        self.mark_dirty(spec.app_id)

    # -- memory (R14/R15) ----------------------------------------------------------------
    async def _memory_loop(self) -> None:
        """Heroku's memory checks: above the quota, R14 at every check; at twice the quota
        (or once the kernel has killed a process at the cgroup's hard limit there), R15 and
        the whole dyno is killed, then restarted like any crash."""
        while True:
            await asyncio.sleep(self.settings.memory_check_interval)
            entries = [e for e in self._running.values() if e.state != "stopping"]
            samples = await asyncio.to_thread(_sample_memory, entries)
            for entry, (usage, oom_kills) in zip(entries, samples, strict=True):
                entry.memory = usage
                if entry.state == "stopping" or entry.handle.has_exited():
                    continue
                if self.metrics is not None and usage is not None:
                    self.metrics.memory(entry.handle.spec.app_id, entry.handle.spec.name, usage)
                verdict = memory_verdict(
                    dyno_size(entry.handle.spec.size), usage, oom_kills > entry.oom_kills
                )
                entry.oom_kills = oom_kills  # reported below if new
                if verdict is not None:
                    self._memory_error(entry, verdict)
                if verdict == "R15":
                    entry.handle.kill()

    def _memory_error(self, entry: _Running, code: str) -> None:
        spec = entry.handle.spec
        size = dyno_size(spec.size)
        if self.metrics is not None:
            self.metrics.dyno_error(spec.app_id, code)
        if entry.memory is not None:
            mb = entry.memory / MB
            self._system(spec, f"Process running mem={mb:.0f}MB({100 * mb / size.memory_mb:.1f}%)")
        if code == "R14":
            self._system(spec, "Error R14 (Memory quota exceeded)")
        else:
            self._system(spec, "Error R15 (Memory quota vastly exceeded)")
            self._system(spec, "Stopping process with SIGKILL")

    def memory_usage(self, dyno_id: str) -> int | None:
        """The dyno's memory now (for `cove ps`; called from API worker threads: a few
        small file reads)."""
        entry = self._running.get(dyno_id)
        return entry.handle.memory_usage() if entry is not None else None

    def _cycle(self, dyno_id: str) -> None:
        """Daily cycling: replace the dyno (a new one first, as for a release)."""
        entry = self._running.get(dyno_id)
        if entry is None or entry.state != "up":
            return
        self._system(entry.handle.spec, "Cycling")
        entry.cycling = True
        self.mark_dirty(entry.handle.spec.app_id)

    def _stop_matching(self, app_id: str, target: str) -> None:
        """``ps:stop``: stop a dyno (``web.1``) or a process type's dynos (``web``). Formation
        dynos are then started again by the next reconcile, as on Heroku."""
        for dyno_id, entry in list(self._running.items()):
            spec = entry.handle.spec
            if spec.app_id == app_id and target in (spec.name, spec.type):
                self._spawn(self._stop(dyno_id, "down", then_reconcile=True))

    async def _stop(self, dyno_id: str, final_state: str, then_reconcile: bool = False) -> None:
        entry = self._running.get(dyno_id)
        if entry is None or entry.state == "stopping":
            return
        previous, entry.state = entry.state, "stopping"
        spec = entry.handle.spec
        # Out of the routing table before the signal, so no new request reaches it: the
        # routers follow the store's events, a moment behind (more under load), and one
        # that hasn't yet seen this dyno's replacement up must still find this one serving.
        await self._set_state(spec, "down")
        if previous == "up":
            await asyncio.sleep(self.settings.unroute_grace)
        self._system(spec, "Stopping all processes with SIGTERM")

        def exit_timeout() -> None:
            self._system(
                spec,
                "Error R12 (Exit timeout) -> At least one process failed to exit within "
                f"{self.settings.stop_grace:.0f} seconds of SIGTERM",
            )
            self._system(spec, "Stopping all processes with SIGKILL")

        try:
            status: int | None = await stop_dyno(
                entry.handle, self.settings.stop_grace, exit_timeout
            )
        except Exception:  # a backend failure must not leave it "stopping" forever
            log.exception("stopping dyno %s failed", spec.id)
            with contextlib.suppress(Exception):
                entry.handle.kill()
            status = await self._exit_status(entry.handle)
        if status is not None:
            self._system(spec, f"Process exited with status {status}")
        self._system(spec, f"State changed from {previous} to {final_state}")
        self._running.pop(dyno_id, None)
        await asyncio.to_thread(self._delete_row, spec.id, spec)
        if then_reconcile:
            self.mark_dirty(spec.app_id)

    # -- state rows (what the API and router see) ----------------------------------------
    def _write_row(self, spec: DynoSpec, state: str, handle: DynoHandle | None) -> None:
        with self.store.session() as s:
            if s.get(App, spec.app_id) is None:
                return
            row = s.get(Dyno, spec.id)
            if row is None:
                # A crashed predecessor in the same slot is replaced by this dyno.
                s.execute(
                    delete(Dyno).where(
                        Dyno.app_id == spec.app_id, Dyno.name == spec.name, Dyno.state == "crashed"
                    )
                )
                row = new_row(spec)
                s.add(row)
            row.state = state
            if handle is not None:
                row.host, row.port = handle.host, handle.port
            self.store.emit(
                s, "dyno.changed", spec.app_id, app=spec.app_name, name=spec.name, state=state
            )

    async def _set_state(self, spec: DynoSpec, state: str) -> None:
        await asyncio.to_thread(self._write_row, spec, state, None)

    def _delete_row(self, dyno_id: str, spec: DynoSpec) -> None:
        with self.store.session() as s:
            row = s.get(Dyno, dyno_id)
            if row is not None:
                s.delete(row)
                self.store.emit(
                    s, "dyno.changed", spec.app_id, app=spec.app_name, name=spec.name, state="gone"
                )

    def forget_stale_rows(self, formation_only: bool = False) -> None:
        """Rows left by a previous run of the server describe processes that are gone.
        Called before the API serves: a one-off dyno created in the first moments keeps
        its row. With ``formation_only`` (a manager taking over from another, whose API
        processes run on), one-off dynos' rows stay: they are not the manager's."""
        with self.store.session() as s:
            stale = delete(Dyno)
            s.execute(stale.where(Dyno.type != ONE_OFF_TYPE) if formation_only else stale)
