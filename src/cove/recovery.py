"""What a crash of `cove server` (kill -9, power loss) can leave half-done, put right at
start, before any build, push or dyno runs (the lock on COVE_HOME makes this server the
only one using it).

- builds that were running are marked failed; their directories, uploaded sources and
  half-written slugs are removed, and so is a slug written but never released;
- add-ons whose creation or destruction was cut short are finished (``services.addons``);
- a push whose release went live while git had not moved the branch yet gets its branch
  moved (``gitreceiver.deploy_ref``);
- releases whose slugs need an interpreter the stack no longer has are named.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import select

from cove.addons import Registry
from cove.builder.layers import Layers
from cove.builder.service import SLUG_MARKER
from cove.builder.slug import remove_slug, slug_interpreter, slug_path
from cove.builder.stack import Stack
from cove.gitreceiver.deploy_ref import settle
from cove.services import addons, builds, releases
from cove.settings import Settings
from cove.store import App, Build, Slug, Source, Store


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_builds(settings: Settings, store: Store) -> list[str]:
    """Interrupted builds, their directories and sources; slugs half-written, half-unpacked
    or written and never released; dyno directories (no dyno runs yet)."""
    # With several API servers on one store, each fails only the builds it ran: those
    # whose log is in its COVE_HOME.
    ours = {p.stem for p in settings.builds_dir.glob("*.log")} if settings.split else None
    interrupted = builds.fail_interrupted(store, ours)
    done = [f"build {b.id} was interrupted: marked failed" for b in interrupted]
    for entry in settings.builds_dir.iterdir():
        if not entry.is_dir():
            continue  # build and release logs
        marker = entry / SLUG_MARKER
        if marker.is_file():
            _drop_unreleased_slug(settings, store, marker.read_text().strip())
        _remove(entry)
    # (A slug store shared with other servers may hold their half-written files.)
    for entry in () if settings.slug_store else settings.slugs_dir.iterdir():
        if entry.name.startswith((".tmp-", ".unpack-")):
            _remove(entry)
    for entry in settings.sources_dir.iterdir():
        if _source_is_spent(store, entry.name):
            _remove(entry)
    for entry in settings.dynos_dir.iterdir():
        _remove(entry)
    # (Build caches shared with other servers may be in use by their builds.)
    if not settings.build_cache_store:
        layers = Layers(settings.layers_dir, settings.cache_dir).sweep(settings.slugs_dir)
        if layers:
            done.append(f"removed {len(layers)} cached virtualenv layer(s) nothing uses")
    return done


def _drop_unreleased_slug(settings: Settings, store: Store, checksum: str) -> None:
    with store.session() as s:
        recorded = s.scalar(select(Slug.id).where(Slug.checksum == checksum).limit(1))
    if recorded is None and checksum.startswith("SHA256:"):
        remove_slug(slug_path(settings.slugs_dir, checksum))


def _source_is_spent(store: Store, source_id: str) -> bool:
    """An upload that was cut short, or that a build already used (a source serves one
    build), or that no source row knows. An uploaded, unused source waits for its build."""
    with store.session() as s:
        source = s.get(Source, source_id)
        used = s.scalar(
            select(Build.id)
            .where(Build.source_url.contains(f"/sources/{source_id}", autoescape=True))
            .limit(1)
        )
    return source is None or not source.uploaded or used is not None


def settle_deploy_refs(settings: Settings, store: Store) -> list[str]:
    done = []
    for repo in sorted(settings.repos_dir.glob("*.git")):
        moved = settle(repo, lambda build_id: builds.went_live(store, build_id))
        if moved:
            done.append(f"{repo.stem}: {moved}, the commit of its live release")
    return done


async def reconcile_addons(store: Store, registry: Registry) -> list[str]:
    return await asyncio.to_thread(addons.reconcile, store, registry)


def missing_interpreters(settings: Settings, store: Store, stack: Stack) -> list[str]:
    """One line per app whose current release's slug links to an interpreter the stack
    doesn't have: its dynos can't start."""
    with store.session() as s:
        current = []
        for app in s.scalars(select(App).order_by(App.name)):
            release = releases.current_with_slug(s, app.id)
            slug = s.get(Slug, release.slug_id) if release and release.slug_id else None
            if release is not None and slug is not None:
                current.append((app.name, release.version, slug.checksum))
    lines = []
    for name, version, checksum in current:
        needed = slug_interpreter(slug_path(settings.slugs_dir, checksum))
        if needed is not None and not stack.provides(needed):
            # The operator reinstalls on the host: one of Cove's installs is named there.
            on_host = stack.on_host(needed)
            where = f" ({on_host} on this host)" if on_host != needed else ""
            lines.append(
                f"{name} v{version} needs the Python interpreter {needed}{where}, which the "
                "stack no longer has: its dynos can't start. Reinstall it at that path and "
                "restart, or deploy the app again."
            )
    return lines
