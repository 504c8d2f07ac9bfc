"""The builder: source → buildpacks → slug → release, one build at a time per app."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from cove import sandbox, testpoints
from cove.addons import Registry
from cove.builder import app_setup, buildpacks, layers, runtime_requests
from cove.builder.app_setup import AppSetup, RunPostdeploy
from cove.builder.buildpacks import BuildFailed, BuildSandbox
from cove.builder.layers import Layers
from cove.builder.node_install import NodeInstaller
from cove.builder.python_install import HEROKU_DEFAULT, PythonInstaller
from cove.builder.slug import (
    human_size,
    keep_archive,
    keep_unpacked,
    temporary_archive,
    unpacked_dir,
    write_layered_slug,
    write_slug,
)
from cove.builder.stack import Stack
from cove.builder.tar import TAR_COMPRESS
from cove.domain.app_json import AppJson
from cove.domain.dyno_sizes import MB
from cove.domain.errors import InvalidParams
from cove.domain.procfile import parse_procfile
from cove.logs import LogRouter, OutputStream
from cove.sandbox.cgroups import Cgroup, Cgroups, Limits
from cove.services import accounts, formation, releases
from cove.settings import BUILD_ENV_PASSTHROUGH, Settings
from cove.store import App, Build, Release, Slug, Store
from cove.store.leases import Lease

# Processes and threads a build may have at once (pip and uv run many in parallel).
BUILD_PIDS = 4096
# In a build's directory: the checksum of the slug it wrote, until the release that records
# the slug exists (a crash in between leaves a slug no row names; the start-up sweep
# removes it, see cove.recovery).
SLUG_MARKER = "slug-written"
# How often a build waiting for another server's build of the same app looks again.
LEASE_POLL_SECONDS = 1.0

# Waits until a release's web dynos serve (or fail to); returns a one-line verdict.
WaitServing = Callable[[str, int], Awaitable[str]]


class Builder:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        stack: Stack,
        logs: LogRouter,
        wait_serving: WaitServing,
        follow_release: Callable[[str], AsyncIterator[str]],
        users: sandbox.Users,
        cgroups: Cgroups,
        registry: Registry | None = None,
        run_postdeploy: RunPostdeploy | None = None,
    ) -> None:
        self.settings = settings
        # app.json, applied on an app's first deploy.
        self.app_setup = AppSetup(store, registry, run_postdeploy)
        self.users = users
        self.cgroups = cgroups
        self.store = store
        self.stack = stack
        # Python versions the stack lacks, installed when a build asks for them.
        self.python_installer = PythonInstaller(settings, stack)
        # Node.js runtimes likewise (shared by every app, under COVE_HOME/stack/nodes).
        self.node_installer = NodeInstaller(settings, stack.uv)
        self.logs = logs
        self.wait_serving = wait_serving
        self.follow_release = follow_release
        self.outputs: dict[str, OutputStream] = {}
        self.layers = Layers(settings.layers_dir, settings.cache_dir)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------
    def submit(self, build_id: str, app_id: str) -> None:
        """Start a build; the builder owns the task and waits for it on ``close``."""
        output = OutputStream(
            self.settings.builds_dir / f"{build_id}.log",
            lambda line: self.logs.publish(app_id, "app", "build", line),
        )
        self.outputs[build_id] = output
        task = asyncio.get_running_loop().create_task(self._run(build_id, app_id, output))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def log_path(self, build_id: str) -> Path:
        return self.settings.builds_dir / f"{build_id}.log"

    # -- one build -----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _one_at_a_time(
        self, app_id: str, build_id: str, out: OutputStream | None = None
    ) -> AsyncIterator[None]:
        """The app's builds one at a time: on this server (a lock), and with a store that
        several servers share, on all of them (a lease in the store): its builds may share
        the build cache (COVE_BUILD_CACHE_DIR), and Heroku builds an app's pushes in turn."""
        said = False

        def waiting() -> None:
            nonlocal said
            if out is not None and not said:
                said = True
                out.step("Waiting for the previous build of this app to finish...")

        lock = self._locks.setdefault(app_id, asyncio.Lock())
        if lock.locked():
            waiting()
        async with lock:
            if not self.store.postgres:
                yield
                return
            lease = Lease(self.store, f"build:{app_id}", f"{socket.gethostname()}:{build_id}")
            try:
                await lease.acquire(interval=LEASE_POLL_SECONDS, waiting=waiting)
                holding = asyncio.ensure_future(lease.hold())
                try:
                    yield
                finally:
                    holding.cancel()
                    await asyncio.gather(holding, return_exceptions=True)
                    await asyncio.to_thread(lease.release)
            finally:
                lease.close()

    async def _run(self, build_id: str, app_id: str, out: OutputStream) -> None:
        workdir = self.settings.builds_dir / build_id
        cgroup: Cgroup | None = None
        try:
            async with self._one_at_a_time(app_id, build_id, out):
                # Every step of the build shares one cgroup: a memory and process cap for the
                # whole build, whatever it forks.
                cgroup = await asyncio.to_thread(
                    self.cgroups.create,
                    f"build-{build_id}",
                    Limits(self.settings.build_memory_mb * MB, BUILD_PIDS, None),
                )
                await self._build(build_id, app_id, out, workdir, cgroup)
        except BuildFailed as exc:
            out.error(str(exc))
            out.error("Push rejected, failed to compile app.")
            out.write("")
            out.error("Push failed")
            self._finish(build_id, app_id, "failed", str(exc))
        except asyncio.CancelledError:
            self._finish(build_id, app_id, "failed", "The build was cancelled.")
            raise
        except Exception as exc:  # a bug: still report the build as failed
            out.error(f"Internal error while building: {exc!r}")
            self._finish(build_id, app_id, "failed", f"Internal error: {exc!r}")
        finally:
            await out.close()  # the push has its answer: the rest is tidying up
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        # After the push has its answer: ready the venv this build saved for the next one.
        async with self._one_at_a_time(app_id, build_id):
            await self._prepare_venv_layer(app_id)

    async def _prepare_venv_layer(self, app_id: str) -> None:
        """Make the venv a build saved the app's layer, with its archive, now rather than
        at the start of the next build (which would do it itself otherwise)."""
        if not sandbox.supports_ephemeral_mounts():
            return
        try:
            await asyncio.to_thread(self.layers.adopt, app_id, self.settings.cache_dir / app_id)
            layer = self.layers.current(app_id)
            if layer is not None:
                await layers.ensure_archive(layer)
        except (OSError, RuntimeError):
            pass  # the next build adopts or archives it itself, and reports what fails

    def _finish(self, build_id: str, app_id: str, status: str, message: str | None) -> None:
        with self.store.session() as s:
            build = s.get(Build, build_id)
            if build is not None:
                build.status = status
                build.failure_message = message
        self.logs.publish(
            app_id,
            "app",
            "api",
            "Build succeeded"
            if status == "succeeded"
            else "Build failed -- check your build output",
        )

    async def _build(
        self, build_id: str, app_id: str, out: OutputStream, workdir: Path, cgroup: Cgroup | None
    ) -> None:
        with self.store.session() as s:
            build = s.get(Build, build_id)
            app = s.get(App, app_id)
            assert build is not None and app is not None
            user = accounts.get_account(self.store, build.user_id)
        out.step(f"Building on the {self.stack.name} stack")
        first = await asyncio.to_thread(app_setup.is_first_deploy, self.store, app_id)
        # One deadline for the whole compile (Heroku's compile time limit); it never runs
        # into the release, which is created after the slug.
        try:
            compiled = await asyncio.wait_for(
                self._compile(build, app, out, workdir, cgroup, first),
                self.settings.build_timeout,
            )
        except TimeoutError:
            raise BuildFailed(
                f"The build took longer than {self.settings.build_timeout:.0f} seconds and was "
                "stopped (COVE_BUILD_TIMEOUT)."
            ) from None
        checksum, size, process_types, names, manifest = compiled

        out.step("Launching...")
        release = self._release(
            build_id, app, user.id, checksum, size, process_types, build.version, names, manifest
        )
        version = release.version
        self.logs.publish(
            app_id, "app", "api", f"Deploy {(build.version or '')[:8]} by user {user.email}"
        )
        self.logs.publish(app_id, "app", "api", f"Release v{version} created by user {user.email}")
        await testpoints.pause_async("release-created")
        if release.status == "pending" and not await self._release_phase(release, out):
            return
        out.detail(f"Released v{version}")
        out.detail(f"{self.settings.web_url(app.name)} deployed to Cove")
        out.write("")
        verdict = await self.wait_serving(app_id, version)
        out.write(f"Verifying deploy... {verdict}")
        if manifest is not None:
            await self.app_setup.postdeploy(app_id, release.id, manifest, out)

    async def _compile(
        self,
        build: Build,
        app: App,
        out: OutputStream,
        workdir: Path,
        cgroup: Cgroup | None,
        first: bool,
    ) -> tuple[str, int, dict[str, str], list[tuple[buildpacks.Buildpack, str]], AppJson | None]:
        """Source -> buildpacks -> slug; returns (checksum, size, process types, buildpacks,
        and on a first deploy the app.json it applied)."""
        app_id = app.id
        root = workdir / "app"
        env_dir = workdir / "env"
        cache = self.settings.cache_dir / app_id
        for d in (root, env_dir, cache):
            d.mkdir(parents=True, exist_ok=True)
        for key, value in app.config.items():
            (env_dir / key).write_text(value)
        user = self.users.for_uid(app.uid)
        if user is not None:
            await asyncio.to_thread(_hand_over, user, root, env_dir, cache)

        box = BuildSandbox(
            mounts=[
                sandbox.Mount(root, "/app", writable=True),
                sandbox.Mount(cache, "/cache", writable=True),
                sandbox.Mount(env_dir, "/env"),
                *self.stack.build_mounts(),
            ],
            env=self._build_env(build.version),
            timeout=self.settings.build_timeout,
            user=user,
            cgroup=cgroup,
            memory_mb=self.settings.build_memory_mb,
        )
        await self._fetch_source(build.source_url, workdir / "source", box)
        manifest = None
        if first:
            manifest = await self._set_up(app, build.user_id, root, env_dir, out)
        procfile = self._read_procfile(root)
        _apply_slugignore(root)

        # On a first deploy, app.json's buildpacks unless the app has its own list (they then
        # become the app's, as a detected one does).
        chosen = app.buildpacks or (app_setup.buildpack_names(manifest) if manifest else [])
        packs = buildpacks.resolve(chosen)
        for pack in packs if user is not None else ():
            closed = buildpacks.closed_to_others(pack)
            if closed is not None:
                raise BuildFailed(
                    f"The buildpack {pack.url} can't be used: builds run as the app's own "
                    f"user, who can't read {closed}. Make it readable by all users "
                    f"(chmod -R a+rX {pack.path})."
                )
        # Each build compiles with its own copies, whose directories (only: the files keep
        # root's ownership and modes, so the app's user reads no more than in the
        # originals) are the app user's, for their export files.
        staged = await asyncio.to_thread(buildpacks.stage, packs, workdir / "buildpacks")
        if user is not None:
            copies = [staged.source / str(pack.index) for pack in packs]
            await asyncio.to_thread(user.chown, staged.source, *copies)
        box.mounts.append(staged)
        venv_layer = None
        # Cove's Python buildpack may run, and this host can stack its venv as layers.
        layered = any(map(_is_python, packs)) and sandbox.supports_ephemeral_mounts()
        if layered:
            box.env["COVE_VENV_LAYERS"] = "1"  # the buildpack may leave its venv to Cove
            venv_layer = await asyncio.to_thread(self._mount_venv_layer, app_id, workdir, box)
        runtimes = runtime_requests.providers(self.python_installer, self.node_installer)
        async with runtime_requests.serving(runtimes, user) as installer_mount:
            box.mounts.append(installer_mount)
            box.env["COVE_RUNTIME_INSTALLER"] = installer_mount.target
            if chosen:
                names = await _compile_set(box, packs, out)
            else:
                names = await _compile_detected(box, packs, out)
        box.mounts.remove(installer_mount)  # its socket is gone with the installer
        if not any(_is_python(pack) for pack, _ in names):
            venv_layer = None  # detected as another language: the venv isn't this slug's
        elif venv_layer is None and layered:
            venv_layer = await asyncio.to_thread(self._take_built_venv, app_id, workdir, user)

        # The last buildpack's default process types are the app's (Heroku ignores the
        # earlier ones': the primary language's buildpack goes last). Its bin/release sees
        # the venv read-only (the overlay's upper directory as a lower layer, so it takes no
        # second writable mount) and runs while the slug's archive is written, unless that
        # needs the build's own overlay (a venv the build changed).
        release_box = dataclasses.replace(
            box, mounts=[m for m in box.mounts if m.writable_upper is None]
        )
        if venv_layer is not None:
            layer, upper = venv_layer
            release_box.mounts.append(
                sandbox.Mount(layer, layers.VENV_TARGET, ephemeral=True, layers=(upper,))
            )
        merged = venv_layer is not None and any(venv_layer[1].iterdir())
        release = None if merged else asyncio.ensure_future(release_box.release(names[-1][0]))
        try:
            written = await self._write_slug(root, box, workdir, venv_layer, merged)
        except BaseException:
            if release is not None:
                release.cancel()
                await asyncio.gather(release, return_exceptions=True)
            raise
        checksum, slug_file, size = written
        (workdir / SLUG_MARKER).write_text(checksum)
        try:
            defaults = await (release or release_box.release(names[-1][0]))
            out.step("Discovering process types")
            process_types = {**defaults, **(procfile or {})}
            out.detail(f"Procfile declares types -> {', '.join(procfile or {}) or '(none)'}")
            if defaults:
                out.detail(f"Default types for buildpack -> {', '.join(defaults)}")
            if not procfile and "web" not in process_types:
                _warn_no_web_process(out, procfile is None)
            if manifest is not None:
                app_setup.check_formation(manifest, process_types)
            out.step("Compressing...")
            await testpoints.pause_async("slug-written")
            out.detail(f"Done: {human_size(size)}")
            if size > self.settings.slug_max_bytes:
                raise BuildFailed(
                    f"Compiled slug size: {human_size(size)} is too large (max is "
                    f"{human_size(self.settings.slug_max_bytes)}). Add files the app doesn't "
                    "need at run time to .slugignore."
                )
        except BaseException:
            self._discard_slug(checksum, slug_file)
            raise
        if venv_layer is not None and not unpacked_dir(slug_file).exists():
            await asyncio.to_thread(layers.record, unpacked_dir(slug_file), *venv_layer)
        keep_unpacked(root, slug_file)
        return checksum, size, process_types, names, manifest

    def _mount_venv_layer(
        self, app_id: str, workdir: Path, box: BuildSandbox
    ) -> tuple[Path, Path] | None:
        """Give the build the app's cached venv at /app/.heroku/python, under an overlay
        whose writes land in this build's own upper directory (``cove.builder.layers``);
        return (layer, upper). None where the host has no overlays (the buildpack then
        copies its cache) or the app has no layer yet."""
        self.layers.adopt(app_id, self.settings.cache_dir / app_id)  # what the last build saved
        layer = self.layers.current(app_id)
        if layer is None:
            return None
        mountpoint = layers.prepare_mountpoint(workdir / "app")
        if mountpoint is None:
            return None
        upper, work = workdir / "python-upper", workdir / "python-work"
        upper.mkdir()
        work.mkdir()
        if box.user is not None:  # the merged venv's root is the upper directory's
            box.user.chown(mountpoint.parent, mountpoint, upper)
        box.mounts.append(sandbox.Mount(layer, layers.VENV_TARGET, writable_upper=(upper, work)))
        box.env["COVE_CACHED_VENV"] = layers.VENV_TARGET
        return layer, upper

    def _take_built_venv(
        self, app_id: str, workdir: Path, user: sandbox.SandboxUser | None
    ) -> tuple[Path, Path] | None:
        """A build that installed its venv from scratch and asked Cove to keep it (the
        buildpack's hand-over marker): the venv moves out of the build (a rename) to be the
        app's layer, which the slug then stacks on like a warm build's. No copy."""
        marker = self.settings.cache_dir / app_id / layers.TAKE_MARKER
        if not marker.is_file():
            return None
        marker.unlink()
        venv = workdir.joinpath("app", *layers.VENV_IN_APP)
        layer = self.layers.take(app_id, venv)
        if layer is None:
            return None
        venv.mkdir()  # now the mount point of its layer
        upper = workdir / "python-upper"
        upper.mkdir()
        if user is not None:
            user.chown(venv, upper)
        return layer, upper

    async def _write_slug(
        self,
        root: Path,
        box: BuildSandbox,
        workdir: Path,
        venv_layer: tuple[Path, Path] | None,
        merged: bool,
    ) -> tuple[str, Path, int]:
        """The slug's archive: of the build directory; of it with the venv layer's archive
        appended, when the build left the venv as it was; or, when the build changed the
        venv (``merged``), of /app as the build's overlay shows it."""
        if venv_layer is None:
            return await write_slug(root, self.settings.slugs_dir)
        if merged:
            return await self._write_merged_slug(box, workdir / "slug")
        venv_archive = await layers.ensure_archive(venv_layer[0])
        return await write_layered_slug(root, venv_archive, self.settings.slugs_dir)

    async def _write_merged_slug(self, box: BuildSandbox, out_dir: Path) -> tuple[str, Path, int]:
        """The slug archive of /app as the build sees it, its venv overlay included: tar
        runs in the build's sandbox, as the app's user."""
        out_dir.mkdir()
        if box.user is not None:
            box.user.chown(out_dir)
        status, output = await box.run(
            ["tar", TAR_COMPRESS, "-cf", "/slug-out/slug.tar.zst", "-C", "/app", "."],
            [*box.mounts, sandbox.Mount(out_dir, "/slug-out", writable=True)],
            on_line=None,
            timeout=self.settings.build_timeout,
            env={"PATH": "/usr/bin:/bin"},
        )
        if status != 0:
            raise BuildFailed(f"Could not write the slug: {output.strip()}")
        tmp = temporary_archive(self.settings.slugs_dir, out_dir)
        (out_dir / "slug.tar.zst").rename(tmp)
        os.chown(tmp, os.getuid(), os.getgid())  # the store's, no longer the app's
        return await keep_archive(tmp, self.settings.slugs_dir)

    async def _set_up(
        self, app: App, user_id: str, root: Path, env_dir: Path, out: OutputStream
    ) -> AppJson | None:
        """A first deploy with an app.json: check it, set config vars and provision add-ons
        (the build's env dir gets the new config vars, as on Heroku's app setup)."""
        path = _inside(root, "app.json")
        if path is None:
            return None
        manifest = app_setup.read(path.read_bytes())
        self.app_setup.check(app, manifest)
        config = await self.app_setup.before_build(app, manifest, user_id, out)
        added = []
        for key, value in config.items():
            if app.config.get(key) != value:
                (env_dir / key).write_text(value)
                added.append(env_dir / key)
        user = self.users.for_uid(app.uid)
        if user is not None and added:
            await asyncio.to_thread(user.chown, *added)
        return manifest

    def _discard_slug(self, checksum: str, slug_file: Path) -> None:
        with self.store.session() as s:
            if s.scalar(select(Slug.id).where(Slug.checksum == checksum)) is None:
                slug_file.unlink(missing_ok=True)

    async def _release_phase(self, release: Release, out: OutputStream) -> bool:
        """Stream the release command; True if the release went live."""
        out.error("Release command declared: this new release will not be available until")
        out.error("the command succeeds.")
        out.write("Running release command...")
        out.write("")
        async for line in self.follow_release(release.id):
            out.write(line)
        with self.store.session() as s:
            status = s.scalar(select(Release.status).where(Release.id == release.id))
        if status == "succeeded":
            out.write("Waiting for release.... done.")
            return True
        out.write("Waiting for release.... failed.")
        out.error(f"Release command failed: v{release.version} was not deployed; the release")
        out.error(
            "that was running before keeps running. See `cove releases:info` and `cove logs`."
        )
        out.write("")
        out.error("Push failed")
        return False

    def _release(
        self,
        build_id: str,
        app: App,
        user_id: str,
        checksum: str,
        size: int,
        process_types: dict[str, str],
        commit: str | None,
        names: list[tuple[buildpacks.Buildpack, str]],
        manifest: AppJson | None,
    ) -> Release:
        """Slug row, release and build result in one transaction: a crash leaves either
        all of them or none."""
        with self.store.session() as s:
            slug = Slug(
                app_id=app.id,
                checksum=checksum,
                size=size,
                process_types=process_types,
                commit=commit,
                stack=self.stack.name,
                buildpack_description=", ".join(name for _, name in names),
            )
            s.add(slug)
            s.flush()
            fresh_app = s.get(App, app.id)
            assert fresh_app is not None
            if not fresh_app.buildpacks:
                # As on Heroku, the detected buildpack becomes the app's: later builds use
                # it, and `buildpacks` shows it.
                fresh_app.buildpacks = [pack.url for pack, _ in names]
            formation.ensure_types(s, app.id, process_types)
            if manifest is not None:
                app_setup.apply_formation(s, app.id, manifest)
            description = f"Deploy {commit[:8]}" if commit else "Deploy"
            release = releases.append(
                s, fresh_app, slug_id=slug.id, description=description, user_id=user_id
            )
            build = s.get(Build, build_id)
            assert build is not None
            build.status = "succeeded"
            build.slug_id = slug.id
            build.release_id = release.id
            return release

    def _build_env(self, version: str | None) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/app",
            "STACK": self.stack.name,
            "LANG": "C.UTF-8",
            "COVE_PYTHONS": self.stack.versions_json(),
            "COVE_PYTHON_DEFAULT": self.stack.default_version(
                self.settings.default_python, HEROKU_DEFAULT
            ),
            "COVE_UV": "/cove/bin/uv",
            "COVE_BUILDPACK_PYTHON": self.stack.in_sandbox(self.stack.buildpack_python.path),
            # Build dir and cache are separate mounts, so uv cannot hardlink between them.
            "UV_LINK_MODE": "copy",
        }
        if version:
            env["SOURCE_VERSION"] = version
        for key in BUILD_ENV_PASSTHROUGH:
            if key in os.environ:
                env[key] = os.environ[key]
        return env

    async def _fetch_source(self, url: str, dest: Path, box: BuildSandbox) -> None:
        """Copy the source archive locally, then unpack it into /app inside the sandbox
        (a hostile archive can then write nowhere but the build directory)."""
        local = self._local_source(url)
        if local is None:
            import httpx  # (loaded when first needed: ~0.1 s of a server's start otherwise)

            local = dest
            try:
                async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", url) as r:
                    r.raise_for_status()
                    with dest.open("wb") as f:
                        async for chunk in r.aiter_bytes():
                            f.write(chunk)
            except httpx.HTTPError as exc:
                raise BuildFailed(f"Could not download the source from {url}: {exc}") from None
        if not local.is_file():
            raise BuildFailed("The source archive was not uploaded.")
        if box.user is not None:
            box.user.chown(local)
        status, out = await box.run(
            ["tar", "-xf", "/source.tar", "-C", "/app"],
            [*box.mounts, sandbox.Mount(local, "/source.tar")],
            on_line=None,
            timeout=300,
            env={"PATH": "/usr/bin:/bin"},
        )
        if self._local_source(url) is not None:
            local.unlink(missing_ok=True)  # an uploaded source serves exactly one build
        if status != 0:
            raise BuildFailed(f"Could not unpack the source archive: {out.strip()}")

    def _local_source(self, url: str) -> Path | None:
        prefix = f"{self.settings.api_url}/sources/"
        if url.startswith(prefix):
            source_id = url[len(prefix) :].split("?", 1)[0]
            if source_id.replace("-", "").isalnum():
                return self.settings.sources_dir / source_id
        return None

    @staticmethod
    def _read_procfile(root: Path) -> dict[str, str] | None:
        path = _inside(root, "Procfile")
        if path is None and (root / "Procfile").is_symlink():
            raise BuildFailed("The Procfile is a symbolic link to a file outside the app.")
        if path is None:
            return None
        try:
            return parse_procfile(path.read_text())
        except InvalidParams as exc:
            raise BuildFailed(str(exc)) from None
        except UnicodeDecodeError:
            raise BuildFailed("The Procfile is not valid UTF-8 text.") from None


async def _compile_set(
    box: BuildSandbox, packs: list[buildpacks.Buildpack], out: OutputStream
) -> list[tuple[buildpacks.Buildpack, str]]:
    """The app's buildpacks, in order: each must detect the app (just before its compile,
    so it sees what the earlier ones built) and compiles with their exports."""
    if len(packs) == 1:
        out.step(f"Using buildpack: {packs[0].url}")
    else:
        out.step("Using buildpacks:")
        for pack in packs:
            out.detail(f"{pack.index + 1}. {pack.url}")
    names: list[tuple[buildpacks.Buildpack, str]] = []
    for pack in packs:
        name = await box.detect(pack)
        if name is None:
            raise BuildFailed(f"The buildpack {pack.url} could not detect this app.")
        out.step(f"{name} app detected")
        await box.compile(pack, out.write, [p for p, _ in names])
        names.append((pack, name))
    return names


async def _compile_detected(
    box: BuildSandbox, packs: list[buildpacks.Buildpack], out: OutputStream
) -> list[tuple[buildpacks.Buildpack, str]]:
    """No buildpacks set: the first default buildpack that detects the app builds it."""
    for pack in packs:
        name = await box.detect(pack)
        if name is not None:
            out.step(f"{name} app detected")
            await box.compile(pack, out.write)
            return [(pack, name)]
    raise BuildFailed(
        "No default language could be detected for this app. Add a requirements.txt, "
        "pyproject.toml, Pipfile.lock, setup.py, package.json or static.json, or set a "
        "buildpack with `cove buildpacks:set`."
    )


def _is_python(pack: buildpacks.Buildpack) -> bool:
    """Cove's own Python buildpack, which knows how to keep its venv as a layer."""
    return pack.path == buildpacks.BUILTIN["heroku/python"]


def _warn_no_web_process(out: OutputStream, no_procfile: bool) -> None:
    """The release will run but serve nothing (every request answers H14): say so while
    the developer is watching the push, and how to fix it."""
    why = (
        "This app has no Procfile"
        if no_procfile
        else "This app's Procfile declares no process types"
    )
    for line in (
        "Warning: No web process type is defined, so this app will not receive web traffic:",
        'its URL answers "Application error" (H14) until it has one.',
        f"{why}, and the buildpack gives no default web process.",
        "Add a file named Procfile at the root of the repository declaring the command that",
        "starts your web server on $PORT, for example:",
        "    web: gunicorn app:app",
        "then commit it and push again.",
    ):
        out.error(line)


def _inside(root: Path, name: str) -> Path | None:
    """``root/name`` if it is a file inside the build directory. The server reads it outside
    the sandbox, so a symlink out of the app (``Procfile -> /etc/shadow``) is not followed."""
    path = root / name
    resolved = path.resolve()
    if root.resolve() not in resolved.parents or not resolved.is_file():
        return None
    return resolved


def _hand_over(user: sandbox.SandboxUser, root: Path, env_dir: Path, cache: Path) -> None:
    """Give the build's directories to the app's user (the build runs as that user). The
    cache is the app's own; it is re-owned as a whole only if it isn't the user's yet."""
    user.chown(root, env_dir, *env_dir.iterdir())
    if not user.owns(cache):
        user.chown(cache, recursive=True)


def _apply_slugignore(root: Path) -> None:
    """Delete paths matching .slugignore (gitignore-like patterns) before the build."""
    ignore = _inside(root, ".slugignore")
    if ignore is None:
        return
    for raw in ignore.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        anchored = pattern.startswith("/")
        pattern = pattern.strip("/")
        matches = root.glob(pattern) if anchored else root.rglob(pattern)
        for path in list(matches):
            if root not in path.resolve().parents:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
