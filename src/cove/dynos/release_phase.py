"""The release phase: a release whose slug declares a ``release`` process type runs that
command once, in a one-off ``release.N`` dyno with the release's slug and config vars,
before any dyno of the release starts. Success makes the release current; failure (a
nonzero exit, or the time limit) marks it failed and the running release stays."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from sqlalchemy import select

from cove.dynos.backend import Backend
from cove.dynos.one_off import OneOff, one_off_spec, pick_name, release_source
from cove.logs import LogRouter, OutputStream
from cove.logs.relay import Relay
from cove.services import releases
from cove.settings import Settings
from cove.store import Release, Store

RELEASE_OUTPUT_TOPIC = "release"  # the release command's output, relayed (cove.logs.relay)
# How long a relayed output may lag its release's outcome in the store before a follower
# stops waiting for its end (lost if the listening connection dropped meanwhile).
RELAYED_END_GRACE = 10.0
KEEP_FINISHED = 50  # relayed outputs kept in memory once finished (RelayedReleases)


def _log_path(settings: Settings, release_id: str) -> Path:
    return settings.builds_dir / f"release-{release_id}.log"


def _is_pending(store: Store, release_id: str) -> bool:
    with store.session() as s:
        release = s.get(Release, release_id)
        return release is not None and release.status == "pending"


async def _follow(output: OutputStream | None, saved: Path) -> AsyncIterator[str]:
    """An output live until it has finished, else what was saved of it."""
    if output is not None:
        async for line in output.follow():
            yield line
    elif saved.is_file():
        for line in saved.read_text().splitlines():
            yield line


class ReleasePhase:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        backend: Backend,
        logs: LogRouter,
        relay: Relay | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.backend = backend
        self.logs = logs
        self.relay = relay  # API processes elsewhere follow the output (RelayedReleases)
        self._outputs: dict[str, OutputStream] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def log_path(self, release_id: str) -> Path:
        return _log_path(self.settings, release_id)

    async def run(self) -> None:
        """Owner loop: run the release phase of every pending release, in order per app.
        Pending releases left by a previous run of the server are run again."""
        cursor = await asyncio.to_thread(self.store.last_event_id)
        for release_id in await asyncio.to_thread(self._pending):
            self._start(release_id)
        async for event in self.store.watch(cursor):
            if event.kind == "release.created" and event.payload.get("pending"):
                self._start(event.payload["release_id"])

    def _pending(self) -> list[str]:
        with self.store.session() as s:
            return list(
                s.scalars(
                    select(Release.id).where(Release.status == "pending").order_by(Release.version)
                )
            )

    def _start(self, release_id: str) -> None:
        """Start the phase once (both the event and a deploy waiting on it may ask)."""
        if release_id in self._tasks:
            return
        self._outputs[release_id] = OutputStream(
            self.log_path(release_id), partial(self._relay_line, release_id)
        )
        self._tasks[release_id] = asyncio.get_running_loop().create_task(
            self._run_release(release_id)
        )

    async def close(self) -> None:
        """Stop every release phase under way (a server stopping, or a dyno manager that
        lost its lease: the next holder runs them again)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        for output in self._outputs.values():
            if not output.done:
                await output.close()

    async def follow(self, release_id: str) -> AsyncIterator[str]:
        """The release command's output, live until it has finished (starting the phase if
        the event announcing the release has not been seen yet)."""
        if await asyncio.to_thread(_is_pending, self.store, release_id):
            self._start(release_id)
        async for line in _follow(self._outputs.get(release_id), self.log_path(release_id)):
            yield line

    def _relay_line(self, release_id: str, line: str) -> None:
        if self.relay is not None:
            self.relay.send(RELEASE_OUTPUT_TOPIC, release_id, [line])

    async def _close_output(self, release_id: str) -> None:
        await self._outputs[release_id].close()
        if self.relay is not None:
            self.relay.send(RELEASE_OUTPUT_TOPIC, release_id, [], end=True)

    async def _run_release(self, release_id: str) -> None:
        source = await asyncio.to_thread(
            release_source, self.store, self.settings.slugs_dir, release_id
        )
        if source is None or "release" not in source.process_types:
            await self._close_output(release_id)
            return
        out = self._outputs[release_id]
        name = pick_name("release", ())  # (one release phase at a time per app)
        spec = one_off_spec(source, "release", name, source.process_types["release"])
        dyno = OneOff(self.backend, self.logs, spec, self.settings.stop_grace)
        self.logs.publish(
            source.app_id, "app", "api", f"Running release v{source.release_version} commands"
        )

        succeeded = False
        try:
            await dyno.start(self.logs.process_output(source.app_id, name, tee=out.write))
            status, timed_out = await dyno.wait(self.settings.release_timeout)
            if timed_out:
                out.error(
                    f"Release command timed out after {self.settings.release_timeout:.0f} "
                    "seconds and was stopped."
                )
            dyno.finished(status)
            succeeded = status == 0
            if not succeeded:
                out.error(f"Release command failed (exit status {status}).")
        except Exception as exc:  # could not start the dyno at all
            out.error(f"Release command could not start: {exc}")
        finally:
            await asyncio.to_thread(releases.finish, self.store, release_id, succeeded)
            await self._close_output(release_id)  # (after the outcome: followers read it)


class RelayedReleases:
    """The release phase's output in an API process whose dyno manager runs elsewhere: the
    lines the manager relays, mirrored in this host's release log and followed from it.
    The last KEEP_FINISHED finished outputs stay in memory too (a follower that comes just
    after the end still reads it whole); older ones are read from their files."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._outputs: dict[str, OutputStream] = {}
        self._finished: deque[str] = deque()

    def _mirror(self, release_id: str) -> OutputStream:
        output = self._outputs.get(release_id)
        if output is None:
            path = _log_path(self.settings, release_id)
            output = self._outputs[release_id] = OutputStream(path, lambda _: None)
        return output

    def receive(self, release_id: str, lines: list[str], end: bool) -> None:
        """A relayed part of a release command's output (on the event loop)."""
        if release_id in self._finished:
            return
        output = self._mirror(release_id)
        for line in lines:
            output.write(line)
        if end:
            self._end(release_id)

    def _end(self, release_id: str) -> None:
        output = self._outputs.get(release_id)
        if output is None or release_id in self._finished:
            return
        asyncio.get_running_loop().create_task(output.close())
        self._finished.append(release_id)
        while len(self._finished) > KEEP_FINISHED:
            self._outputs.pop(self._finished.popleft(), None)

    async def follow(self, release_id: str) -> AsyncIterator[str]:
        """As ``ReleasePhase.follow``; if the relayed end never comes (a lost notification),
        the outcome in the store ends the wait after a grace."""
        if await asyncio.to_thread(_is_pending, self.store, release_id):
            self._mirror(release_id)
        output = self._outputs.get(release_id)
        guard = None
        if output is not None and release_id not in self._finished:
            guard = asyncio.get_running_loop().create_task(self._end_when_settled(release_id))
        try:
            async for line in _follow(output, _log_path(self.settings, release_id)):
                yield line
        finally:
            if guard is not None:
                guard.cancel()

    async def _end_when_settled(self, release_id: str) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        if await asyncio.to_thread(_is_pending, self.store, release_id):
            async for event in self.store.watch(cursor):
                if event.kind == "release.updated" and not await asyncio.to_thread(
                    _is_pending, self.store, release_id
                ):
                    break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RELAYED_END_GRACE):
                while release_id not in self._finished:
                    await asyncio.sleep(0.1)
        self._end(release_id)
