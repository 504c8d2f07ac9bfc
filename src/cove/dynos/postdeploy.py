"""app.json's ``scripts.postdeploy``: run once after an app's first release went live, in a
one-off ``postdeploy.NNNN`` dyno (a ``OneOff``, as the release phase and ``cove run`` are)
with the release's slug and config vars. Its output goes to the app's log as
``app[postdeploy.NNNN]`` and to the caller (the push)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cove.domain.dyno_sizes import DEFAULT_SIZE
from cove.dynos.backend import Backend
from cove.dynos.one_off import OneOff, dyno_names, one_off_spec, pick_name, release_source
from cove.logs import LogRouter
from cove.settings import Settings
from cove.store import Store


class Postdeploy:
    def __init__(self, settings: Settings, store: Store, backend: Backend, logs: LogRouter) -> None:
        self.settings = settings
        self.store = store
        self.backend = backend
        self.logs = logs

    async def run(
        self, release_id: str, command: str, size: str | None, write: Callable[[str], None]
    ) -> int | None:
        """The command's exit status (None: it could not start; why is written). It is
        stopped after ``COVE_RELEASE_TIMEOUT``, as a release command is."""
        source = await asyncio.to_thread(
            release_source, self.store, self.settings.slugs_dir, release_id
        )
        if source is None:
            write("The release has no slug to run the postdeploy script from.")
            return None
        taken = await asyncio.to_thread(dyno_names, self.store, source.app_id)
        name = pick_name("postdeploy", taken)
        spec = one_off_spec(source, "postdeploy", name, command, size or DEFAULT_SIZE)
        dyno = OneOff(self.backend, self.logs, spec, self.settings.stop_grace)
        self.logs.publish(
            source.app_id, "app", "api", f"Running postdeploy script of v{source.release_version}"
        )
        try:
            await dyno.start(self.logs.process_output(source.app_id, name, tee=write))
        except Exception as exc:  # could not start the dyno at all
            write(f"The postdeploy script could not start: {exc}")
            self.logs.publish(source.app_id, "app", "api", "Postdeploy script could not start")
            return None
        status, timed_out = await dyno.wait(self.settings.release_timeout)
        if timed_out:
            write(
                f"The postdeploy script timed out after {self.settings.release_timeout:.0f} "
                "seconds and was stopped."
            )
        dyno.finished(status)
        verdict = "succeeded" if status == 0 else f"failed (exit status {status})"
        self.logs.publish(source.app_id, "app", "api", f"Postdeploy script {verdict}")
        return status
