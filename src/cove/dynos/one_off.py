"""One-off dynos: what the release phase (``release.NNNN``) and ``cove run`` (``run.NNNN``)
share. A one-off dyno runs a command once, from a release's slug with its config vars, as
the app's user, and tells its life in ``heroku[<name>]`` lines as Heroku does:

    Starting process with command `CMD`
    State changed from starting to up
    Process exited with status N
    State changed from up to complete
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cove.builder import slug_path
from cove.dynos.backend import Attach, Backend, DynoHandle, DynoSpec, stop_dyno
from cove.logs import LogRouter, ProcessOutput
from cove.services import releases
from cove.store import App, Dyno, Release, Slug, Store


@dataclass(frozen=True)
class ReleaseSource:
    """What a one-off dyno runs from: a release of an app, with its slug."""

    app_id: str
    app_name: str
    uid: int | None
    release_id: str
    release_version: int
    slug: Path
    config: Mapping[str, str]
    process_types: Mapping[str, str]


def _source(s: Session, app: App, release: Release, slugs_dir: Path) -> ReleaseSource | None:
    slug = s.get(Slug, release.slug_id) if release.slug_id else None
    if slug is None:
        return None
    return ReleaseSource(
        app.id,
        app.name,
        app.uid,
        release.id,
        release.version,
        slug_path(slugs_dir, slug.checksum),
        dict(release.config),
        dict(slug.process_types),
    )


def release_source(store: Store, slugs_dir: Path, release_id: str) -> ReleaseSource | None:
    """A given release (the release phase runs a release before it is current)."""
    with store.session() as s:
        release = s.get(Release, release_id)
        app = s.get(App, release.app_id) if release is not None else None
        if release is None or app is None:
            return None
        return _source(s, app, release, slugs_dir)


def current_source(store: Store, slugs_dir: Path, app_id: str) -> ReleaseSource | None:
    """The app's current release with a slug (``cove run``); None before its first deploy."""
    with store.session() as s:
        app = s.get(App, app_id)
        release = releases.current_with_slug(s, app_id) if app is not None else None
        if app is None or release is None:
            return None
        return _source(s, app, release, slugs_dir)


def pick_name(kind: str, taken: Collection[str]) -> str:
    """``release.NNNN`` / ``run.NNNN``: four random digits, as on Heroku, unique among
    the names in ``taken``."""
    while True:
        name = f"{kind}.{1000 + secrets.randbelow(9000)}"
        if name not in taken:
            return name


def dyno_names(store: Store, app_id: str) -> set[str]:
    """The names of the app's dynos now (formation and one-off)."""
    with store.session() as s:
        return set(s.scalars(select(Dyno.name).where(Dyno.app_id == app_id)))


def one_off_spec(
    source: ReleaseSource,
    kind: str,
    name: str,
    command: str,
    size: str = "standard-1x",
    env: Mapping[str, str] | None = None,
    attach: Attach | None = None,
) -> DynoSpec:
    """A one-off dyno of ``source``: its config vars, with ``env`` over them (for this
    dyno only: ``cove run --env``, the client's TERM, COLUMNS and LINES)."""
    return DynoSpec(
        id=str(uuid.uuid4()),
        app_id=source.app_id,
        app_name=source.app_name,
        name=name,
        type=kind,
        command=command,
        size=size,
        release_version=source.release_version,
        revision=f"v{source.release_version}",
        slug=source.slug,
        config={**source.config, **(env or {})},
        uid=source.uid,
        attach=attach,
    )


class OneOff:
    """One one-off dyno's life: started once, waited for (within a time limit), stopped;
    each step in its ``heroku[<name>]`` lines."""

    def __init__(self, backend: Backend, logs: LogRouter, spec: DynoSpec, grace: float) -> None:
        self.backend = backend
        self.logs = logs
        self.spec = spec
        self.grace = grace
        self.handle: DynoHandle | None = None
        self.stopping = False

    def system(self, message: str) -> None:
        self.logs.publish(self.spec.app_id, "heroku", self.spec.name, message)

    async def start(self, output: ProcessOutput | None) -> DynoHandle:
        """Start the process (its output to ``output``, or to the handle's terminal when
        attached). Raises if it could not start."""
        self.system(f"Starting process with command `{self.spec.command}`")
        self.handle = await self.backend.start(self.spec, output, self.system)
        self.system("State changed from starting to up")
        return self.handle

    async def wait(self, limit: float | None) -> tuple[int, bool]:
        """The exit status, and whether the dyno was stopped for running over ``limit``
        seconds (None: no limit)."""
        assert self.handle is not None
        try:
            return await asyncio.wait_for(self.handle.wait_exit(), limit), False
        except TimeoutError:
            return await self.stop(), True

    async def stop(self) -> int:
        """Heroku's shutdown: SIGTERM to every process, then SIGKILL after the grace. An
        attached terminal is hung up first, as when a login terminal goes away (an
        interactive shell ignores SIGTERM)."""
        handle = self.handle
        assert handle is not None
        if self.stopping or handle.has_exited():  # (asked twice: the first one escalates)
            return await handle.wait_exit()
        self.stopping = True
        self.system("Stopping all processes with SIGTERM")
        if handle.terminal is not None and handle.terminal.tty:
            handle.hangup()
        return await stop_dyno(handle, self.grace, self._exit_timeout)

    def _exit_timeout(self) -> None:
        self.system(
            "Error R12 (Exit timeout) -> At least one process failed to exit within "
            f"{self.grace:.0f} seconds of SIGTERM"
        )
        self.system("Stopping all processes with SIGKILL")

    def finished(self, status: int) -> None:
        self.system(f"Process exited with status {status}")
        self.system("State changed from up to complete")
