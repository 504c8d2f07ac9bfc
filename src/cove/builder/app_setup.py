"""app.json applied on an app's first deploy, as Heroku's app setup does: config vars
(given, generated secrets; required ones must be there), add-ons, formation, and the
``postdeploy`` script once the first release is live. Later deploys leave all of it alone.

"First deploy" is derived from the releases: the app has no succeeded release with a slug.
A first deploy that failed is retried whole by the next push, so each step is idempotent:
config vars the app has are kept, an add-on whose attachment the app has isn't made again.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cove.addons import Registry
from cove.builder.buildpacks import BUILTIN, BuildFailed, builtin_name
from cove.domain.app_json import AppJson, AppJsonInvalid, parse
from cove.domain.errors import CoveError
from cove.logs import OutputStream
from cove.services import addons, config, releases
from cove.settings import STACK
from cove.store import App, Attachment, Formation, Store

# The stacks an app.json may name: Cove builds on a stack that runs what heroku-22 and
# heroku-24 run.
STACKS = frozenset({STACK, "heroku-22", "heroku-24"})

# Runs a release's postdeploy command in a one-off dyno, its output to the callback; the
# exit status (None: it couldn't start, with the reason written).
RunPostdeploy = Callable[[str, str, str | None, Callable[[str], None]], Awaitable[int | None]]


def read(text: bytes) -> AppJson:
    """The pushed app.json, or a build error naming the field and rule."""
    try:
        return parse(text)
    except AppJsonInvalid as exc:
        raise BuildFailed(exc.message) from None


def buildpack_names(manifest: AppJson) -> list[str]:
    """app.json's buildpacks as Cove names them: Heroku's URLs of a buildpack Cove has built
    in (the GitHub repository's, at any ref) become its name (``heroku/nodejs``)."""
    return [builtin_name(url.split("#", 1)[0].rstrip("/")) for url in manifest.buildpacks]


def is_first_deploy(store: Store, app_id: str) -> bool:
    with store.session() as s:
        return releases.current_with_slug(s, app_id) is None


def new_secret() -> str:
    """``generator: secret``: 64 hex characters, as Heroku generates."""
    return secrets.token_hex(32)


@dataclass
class AppSetup:
    store: Store
    registry: Registry | None
    run_postdeploy: RunPostdeploy | None

    def check(self, app: App, manifest: AppJson) -> None:
        """Everything that can refuse the deploy, before anything is changed."""
        packs = buildpack_names(manifest)
        for index, (url, name) in enumerate(zip(manifest.buildpacks, packs, strict=True)):
            if name not in BUILTIN:
                raise BuildFailed(
                    f"app.json: buildpacks[{index}].url {url!r} is not available on Cove, "
                    f"whose buildpacks are {', '.join(sorted(BUILTIN))}."
                )
            if name in packs[:index]:
                raise BuildFailed(f"app.json: buildpacks[{index}]: {name} is listed twice.")
        if manifest.stack is not None and manifest.stack not in STACKS:
            raise BuildFailed(
                f"app.json: stack {manifest.stack!r} is not available: Cove builds on "
                f"{STACK}, which runs apps made for heroku-24 and heroku-22."
            )
        for index, spec in enumerate(manifest.addons):
            if self.registry is None:
                raise BuildFailed("app.json: addons: this server offers no add-ons.")
            try:
                self.registry.resolve(spec.plan)
            except CoveError as exc:
                raise BuildFailed(f"app.json: addons[{index}]: {exc.message}") from None
        missing = manifest.missing_required(app.config)
        if missing:
            names = ", ".join(missing)
            raise BuildFailed(
                f"app.json requires config vars this app doesn't have: {names}. Set "
                f"{'it' if len(missing) == 1 else 'them'} with `cove config:set "
                f"{missing[0]}=...`, then push again."
            )

    async def before_build(
        self, app: App, manifest: AppJson, user_id: str, out: OutputStream
    ) -> dict[str, str]:
        """Config vars, then add-ons (their URLs are config vars the build and the first
        release see). Returns the app's config vars afterwards."""
        out.step("Setting up the app from app.json (first deploy)")
        to_set = manifest.config_to_set(app.config, new_secret)
        if to_set:
            await asyncio.to_thread(config.update, self.store, app.id, to_set, user_id)
            out.detail(f"Config vars set: {', '.join(to_set)}")  # names only, never values
        for spec in manifest.addons:
            await self._provision(app, spec.plan, spec.attach_as, bool(spec.options), user_id, out)
        with self.store.session() as s:
            fresh = s.get(App, app.id)
            assert fresh is not None
            return dict(fresh.config)

    async def _provision(
        self,
        app: App,
        plan: str,
        attach_as: str | None,
        has_options: bool,
        user_id: str,
        out: OutputStream,
    ) -> None:
        assert self.registry is not None
        provider, _ = self.registry.resolve(plan)
        name = attach_as or provider.primary_attachment
        with self.store.session() as s:
            taken = s.scalar(
                select(Attachment.id).where(Attachment.app_id == app.id, Attachment.name == name)
            )
        if taken is not None:
            out.detail(f"{plan}: {name}_URL is already attached, not provisioned again")
            return
        if has_options:
            out.detail(f"{plan}: options are not supported by Cove and were ignored")
        try:
            view = await asyncio.to_thread(
                addons.create, self.store, self.registry, app.id, plan, user_id, attach_as
            )
        except CoveError as exc:
            raise BuildFailed(f"app.json: could not provision {plan}: {exc.message}") from None
        names = ", ".join(f"{a.name}_URL" for a in view.attachments)
        out.detail(f"Provisioned {view.addon.name} ({plan}) -> {names}")

    async def postdeploy(
        self, app_id: str, release_id: str, manifest: AppJson, out: OutputStream
    ) -> None:
        """Run ``scripts.postdeploy`` once, after the first release went live. Its failure
        is reported (push output and log) but doesn't undo the release."""
        script = manifest.postdeploy
        if script is None or self.run_postdeploy is None:
            return
        out.step(f"Running postdeploy script `{script.command}`")
        status = await self.run_postdeploy(release_id, script.command, script.size, out.write)
        if status == 0:
            out.detail("postdeploy script succeeded")
            return
        why = "could not start" if status is None else f"failed (exit status {status})"
        out.error(f"Warning: the postdeploy script {why}; the release is live.")
        out.error("It runs only on the first deploy: fix it and run it with `cove run`.")


def check_formation(manifest: AppJson, process_types: Mapping[str, str]) -> None:
    """A formation type the app doesn't declare refuses the deploy (before its slug)."""
    unknown = sorted(set(manifest.formation) - set(process_types))
    if unknown:
        declared = ", ".join(t for t in process_types if t != "release") or "none"
        raise BuildFailed(
            f"app.json: formation.{unknown[0]}: this app declares no such process type "
            f"(its types: {declared})."
        )


def apply_formation(session: Session, app_id: str, manifest: AppJson) -> None:
    """In the first release's transaction, after ``ensure_types``: app.json's quantities
    and sizes (types were checked by ``check_formation``)."""
    rows = {f.type: f for f in session.scalars(select(Formation).where(Formation.app_id == app_id))}
    for type_, wanted in manifest.formation.items():
        row = rows.get(type_)
        if row is None:
            row = Formation(app_id=app_id, type=type_, quantity=0)
            session.add(row)
        if wanted.quantity is not None:
            row.quantity = wanted.quantity
        if wanted.size is not None:
            row.size = wanted.size
    if manifest.formation:
        Store.emit(session, "formation.changed", app_id)
