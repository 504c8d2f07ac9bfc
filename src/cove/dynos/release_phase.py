"""The release phase: a release whose slug declares a ``release`` process type runs that
command once, in a one-off ``release.N`` dyno with the release's slug and config vars,
before any dyno of the release starts. Success makes the release current; failure (a
nonzero exit, or the time limit) marks it failed and the running release stays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select

from cove.dynos.backend import Backend
from cove.dynos.one_off import OneOff, one_off_spec, pick_name, release_source
from cove.logs import LogRouter, OutputStream
from cove.services import releases
from cove.settings import Settings
from cove.store import Release, Store


class ReleasePhase:
    def __init__(self, settings: Settings, store: Store, backend: Backend, logs: LogRouter) -> None:
        self.settings = settings
        self.store = store
        self.backend = backend
        self.logs = logs
        self._outputs: dict[str, OutputStream] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def log_path(self, release_id: str) -> Path:
        return self.settings.builds_dir / f"release-{release_id}.log"

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
        self._outputs[release_id] = OutputStream(self.log_path(release_id), lambda _: None)
        self._tasks[release_id] = asyncio.get_running_loop().create_task(
            self._run_release(release_id)
        )

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def follow(self, release_id: str) -> AsyncIterator[str]:
        """The release command's output, live until it has finished (starting the phase if
        the event announcing the release has not been seen yet)."""
        if await asyncio.to_thread(self._is_pending, release_id):
            self._start(release_id)
        output = self._outputs.get(release_id)
        if output is not None:
            async for line in output.follow():
                yield line
        elif self.log_path(release_id).is_file():
            for line in self.log_path(release_id).read_text().splitlines():
                yield line

    def _is_pending(self, release_id: str) -> bool:
        with self.store.session() as s:
            release = s.get(Release, release_id)
            return release is not None and release.status == "pending"

    async def _run_release(self, release_id: str) -> None:
        source = await asyncio.to_thread(
            release_source, self.store, self.settings.slugs_dir, release_id
        )
        if source is None or "release" not in source.process_types:
            await self._outputs[release_id].close()
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
            await out.close()
