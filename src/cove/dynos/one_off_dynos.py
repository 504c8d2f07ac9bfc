"""``cove run``'s dynos: the single owner of one-off ``run.NNNN`` dynos.

A detached one starts at once and logs its output as ``app[run.NNNN]``. An attached one
waits for its client: it gets a single-use secret that expires, and its process starts
only when the client has connected to the rendezvous listener with that secret (so no
output is lost before someone reads it). Each has a row in the ``dynos`` table while it
lives (``cove ps``), is stopped by ``ps:stop`` (``dyno.stop`` events naming it or its
type) and by the server stopping, and is never routed to nor restarted: the dyno manager
only plans the dynos it started itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from cove.domain.errors import InvalidParams, NotFound
from cove.dynos.backend import ONE_OFF_TYPE, Attach, Backend, DynoHandle, new_row
from cove.dynos.one_off import OneOff, current_source, dyno_names, one_off_spec, pick_name
from cove.logs import LogRouter
from cove.rendezvous import matching_secret
from cove.settings import Settings
from cove.store import App, Dyno, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """``POST /apps/{app}/dynos``, checked."""

    command: str
    attach: bool = False
    tty: bool = True  # (attached only: a PTY, else pipes)
    env: Mapping[str, str] | None = None
    size: str = "standard-1x"
    type: str = ONE_OFF_TYPE
    time_to_live: float | None = None  # seconds; None: until the command ends


@dataclass(frozen=True)
class Created:
    row: Dyno
    release_id: str
    secret: str | None  # for the rendezvous, when attached


@dataclass
class _Entry:
    dyno: OneOff
    time_to_live: float | None
    secret: str | None = None  # until claimed or expired
    expiry: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None  # its life, once started
    stop_requested: bool = False  # stopped while its process was still starting


class OneOffDynos:
    def __init__(self, settings: Settings, store: Store, backend: Backend, logs: LogRouter) -> None:
        self.settings = settings
        self.store = store
        self.backend = backend
        self.logs = logs
        self._dynos: dict[str, _Entry] = {}  # by dyno id
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- creating ------------------------------------------------------------------------
    async def create(self, app_id: str, request: RunRequest) -> Created:
        """A new one-off dyno of the app's current release: started now (detached), or
        waiting for its client (attached: ``Created.secret``)."""
        if self._closing:
            raise InvalidParams("The server is stopping.")
        source = await asyncio.to_thread(
            current_source, self.store, self.settings.slugs_dir, app_id
        )
        if source is None:
            app_name = await asyncio.to_thread(self._app_name, app_id)
            raise InvalidParams(f"{app_name} has no release to run yet: deploy with git push first")
        taken = await asyncio.to_thread(dyno_names, self.store, app_id)
        taken |= {e.dyno.spec.name for e in self._dynos.values()}
        env = dict(request.env or {})
        attach = None
        if request.attach:
            attach = Attach(request.tty, *_window(env))
            if request.tty:
                env.setdefault("TERM", "xterm")
        spec = one_off_spec(
            source,
            request.type,
            pick_name(request.type, taken),
            request.command,
            request.size,
            env,
            attach,
        )
        dyno = OneOff(self.backend, self.logs, spec, self.settings.stop_grace)
        entry = _Entry(dyno, request.time_to_live)
        row = await asyncio.to_thread(self._write_row, entry, "starting")
        if row is None:
            raise NotFound("Couldn't find that app.")
        self._dynos[spec.id] = entry
        if attach is None:
            self._begin(entry, start=None)
        else:
            entry.secret = secrets.token_urlsafe(32)
            entry.expiry = asyncio.get_running_loop().call_later(
                self.settings.run_attach_timeout, self._expire, spec.id
            )
        return Created(row, source.release_id, entry.secret)

    def _app_name(self, app_id: str) -> str:
        with self.store.session() as s:
            app = s.get(App, app_id)
            return app.name if app is not None else app_id

    # -- attaching (the rendezvous listener) ----------------------------------------------
    def claim(self, secret: str) -> Attachment | None:
        """The dyno waiting for this secret, once: a wrong, used or expired secret finds
        nothing."""
        waiting = {e.secret: e for e in self._dynos.values() if e.secret is not None}
        matched = matching_secret(waiting, secret)
        if matched is None:
            return None
        found = waiting[matched]
        found.secret = None
        if found.expiry is not None:
            found.expiry.cancel()
        return Attachment(self, found)

    def _expire(self, dyno_id: str) -> None:
        """Nobody attached in time: Heroku's R13, and the dyno is gone."""
        entry = self._dynos.get(dyno_id)
        if entry is None or entry.secret is None:
            return
        entry.secret = None
        entry.dyno.system("Error R13 (Attach error) -> Failed to attach to process")
        entry.dyno.system("State changed from starting to complete")
        self._dynos.pop(dyno_id, None)
        self._spawn(asyncio.to_thread(self._forget, entry))

    async def _start_attached(self, entry: _Entry) -> DynoHandle:
        started: asyncio.Future[DynoHandle] = asyncio.get_running_loop().create_future()
        self._begin(entry, start=started)
        return await started

    # -- a dyno's life -------------------------------------------------------------------
    def _begin(self, entry: _Entry, start: asyncio.Future[DynoHandle] | None) -> None:
        entry.task = self._spawn(self._live(entry, start))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _live(self, entry: _Entry, started: asyncio.Future[DynoHandle] | None) -> None:
        """Start, wait for the exit (or the time to live), report it, forget the dyno.
        ``started`` gets the handle, or why there is none."""
        dyno, spec = entry.dyno, entry.dyno.spec
        try:
            if self._closing or entry.stop_requested:  # (its client left before it started)
                dyno.system("State changed from starting to complete")
                raise _NotStarted("it was stopped before it started")
            output = None if spec.attach else self.logs.process_output(spec.app_id, spec.name)
            try:
                handle = await dyno.start(output)
            except Exception as exc:
                dyno.system(f"Failed to start: {exc}")
                raise _NotStarted(str(exc)) from exc
            if started is not None and not started.done():
                started.set_result(handle)
            await asyncio.to_thread(self._write_row, entry, "up")
            if self._closing or entry.stop_requested:
                self._spawn(self._stop(entry))
            status, _ = await dyno.wait(entry.time_to_live)
            dyno.finished(status)
        except _NotStarted as exc:
            if started is not None and not started.done():
                started.set_exception(exc)
        finally:
            if started is not None and not started.done():  # (cancelled)
                started.set_exception(_NotStarted("the server is stopping"))
            await asyncio.to_thread(self._forget, entry)

    def _forget(self, entry: _Entry) -> None:
        """The dyno is over: its row goes (``cove ps`` no longer lists it)."""
        spec = entry.dyno.spec
        self._dynos.pop(spec.id, None)
        with self.store.session() as s:
            row = s.get(Dyno, spec.id)
            if row is not None:
                s.delete(row)
                self.store.emit(
                    s, "dyno.changed", spec.app_id, app=spec.app_name, name=spec.name, state="gone"
                )

    def _write_row(self, entry: _Entry, state: str) -> Dyno | None:
        """Its row in ``state`` (None once its app was destroyed)."""
        spec = entry.dyno.spec
        with self.store.session() as s:
            if s.get(App, spec.app_id) is None:
                return None
            row = s.get(Dyno, spec.id)
            if row is None:
                row = new_row(spec)
                s.add(row)
            row.state = state
            self.store.emit(
                s, "dyno.changed", spec.app_id, app=spec.app_name, name=spec.name, state=state
            )
            s.flush()
            return row

    # -- stopping ------------------------------------------------------------------------
    async def run(self) -> None:
        """Owner loop: ``ps:stop`` of a one-off dyno (``run.1234``) or of all (``run``),
        and an app destroyed (all of its one-off dynos)."""
        cursor = await asyncio.to_thread(self.store.last_event_id)
        async for event in self.store.watch(cursor):
            if event.kind not in ("dyno.stop", "app.destroyed") or not event.app_id:
                continue
            target = event.payload.get("target")
            for entry in list(self._dynos.values()):
                spec = entry.dyno.spec
                if spec.app_id == event.app_id and (
                    event.kind == "app.destroyed" or target in (spec.name, spec.type)
                ):
                    self._spawn(self._stop(entry))

    async def _stop(self, entry: _Entry) -> None:
        if entry.secret is not None:  # still waiting for its client
            entry.secret = None
            if entry.expiry is not None:
                entry.expiry.cancel()
            entry.dyno.system("State changed from starting to complete")
            await asyncio.to_thread(self._forget, entry)
        elif entry.dyno.handle is not None:
            await entry.dyno.stop()  # (its life task reports the exit)
        else:  # claimed, its process still starting: stopped as soon as it has started
            entry.stop_requested = True

    def stop(self, dyno_id: str) -> None:
        """Stop a dyno now (its attached client went away)."""
        entry = self._dynos.get(dyno_id)
        if entry is not None:
            self._spawn(self._stop(entry))

    async def close(self) -> None:
        """Server shutdown: stop every one-off dyno (whole process trees) and wait."""
        self._closing = True
        entries = list(self._dynos.values())
        await asyncio.gather(*(self._stop(e) for e in entries), return_exceptions=True)
        lives = [e.task for e in entries if e.task is not None]
        await asyncio.gather(*lives, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- queries -------------------------------------------------------------------------
    def resize(self, app_id: str, name: str, columns: int, lines: int) -> bool:
        """Set an attached dyno's PTY size; False if no such dyno runs with a PTY."""
        for entry in self._dynos.values():
            spec, handle = entry.dyno.spec, entry.dyno.handle
            if spec.app_id == app_id and spec.name == name and handle is not None:
                terminal = handle.terminal
                if terminal is not None and terminal.tty and not handle.has_exited():
                    with contextlib.suppress(OSError):  # (closed as it exits)
                        terminal.resize(columns, lines)
                    return True
        return False

    def memory_usage(self, dyno_id: str) -> int | None:
        entry = self._dynos.get(dyno_id)
        handle = entry.dyno.handle if entry is not None else None
        return handle.memory_usage() if handle is not None else None


class Attachment:
    """A claimed attached dyno, as the rendezvous listener drives it."""

    def __init__(self, owner: OneOffDynos, entry: _Entry) -> None:
        self._owner = owner
        self._entry = entry
        self.name = entry.dyno.spec.name
        attach = entry.dyno.spec.attach
        self.tty = attach is not None and attach.tty

    async def start(self) -> DynoHandle:
        """Start its process (the client is there); raises if it could not start."""
        return await self._owner._start_attached(self._entry)

    def stop(self) -> None:
        """The client went away: stop the whole dyno."""
        self._owner.stop(self._entry.dyno.spec.id)


class _NotStarted(Exception):
    """A one-off dyno whose process never started."""


def _window(env: Mapping[str, str]) -> tuple[int, int]:
    """The PTY's size from the client's COLUMNS and LINES (80x24 without them)."""

    def number(key: str, default: int) -> int:
        try:
            return max(1, min(1000, int(env.get(key, default))))
        except ValueError:
            return default

    return number("COLUMNS", 80), number("LINES", 24)
