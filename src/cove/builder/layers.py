"""Virtualenv layers: an app's cached virtualenv, kept once and shared read-only by the
builds and slugs that use it, instead of copied into each build (~8,000 files for a Django
app: most of a warm deploy).

The Python buildpack saves a fresh venv to ``/cache/python-venv`` after an install. Before
the next build, the server moves it (a rename) to ``COVE_HOME/layers/<app id>/<layer id>``
and points the app at it (``cache/<app id>.python-layer``, outside the cache the build may
write). Each build then sees that layer at ``/app/.heroku/python`` under an overlay whose
upper directory is the build's own, so an unchanged venv is never copied. The slug is its
unpacked root plus that upper directory stacked on the layer, named in the slug's manifest
(``<slug>.layers.json`` beside it, where the app can't write). Its archive still holds the
whole venv, for another app's user or another host.

Hosts without overlays keep the buildpack's plain cache (a copy per build).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

from cove.builder.tar import ZSTD, write_archive

# Where builds and dynos see the slug's virtualenv.
VENV_TARGET = "/app/.heroku/python"
VENV_IN_APP = (".heroku", "python")
# Where the Python buildpack saves a freshly installed venv in the app's cache.
CACHE_VENV = "python-venv"
# The buildpack's request that the server take the build's own venv as the layer.
TAKE_MARKER = "python-venv.take"
POINTER_SUFFIX = ".python-layer"
MANIFEST_SUFFIX = ".layers.json"
UPPER_SUFFIX = ".python-upper"
ARCHIVE_SUFFIX = ".tar.zst"


class Layers:
    """Each app's current venv layer, kept under ``root``."""

    def __init__(self, root: Path, cache_dir: Path) -> None:
        self.root = root
        self.cache_dir = cache_dir

    def _pointer(self, app_id: str) -> Path:
        return self.cache_dir / f"{app_id}{POINTER_SUFFIX}"

    def current(self, app_id: str) -> Path | None:
        """The app's cached venv, if it has a usable one."""
        try:
            layer_id = self._pointer(app_id).read_text().strip()
        except OSError:
            return None
        layer = self.root / app_id / layer_id
        if not layer_id.isalnum() or not (layer / "pyvenv.cfg").is_file():
            return None
        return layer

    def adopt(self, app_id: str, cache: Path) -> Path | None:
        """Turn a venv the buildpack saved in ``cache`` into the app's current layer (a
        rename: the cache and the layers share COVE_HOME's filesystem)."""
        return self.take(app_id, cache / CACHE_VENV)

    def take(self, app_id: str, venv: Path) -> Path | None:
        """Move ``venv`` (a directory, not a link: checked here, with no build running that
        could swap it) to be the app's current layer."""
        for path in (venv.parent, venv):
            if path.is_symlink() or not path.is_dir():
                return None
        layer = self.root / app_id / uuid.uuid4().hex
        layer.parent.mkdir(parents=True, exist_ok=True)
        venv.rename(layer)
        tmp = self._pointer(app_id).with_suffix(".tmp")
        tmp.write_text(layer.name)
        tmp.replace(self._pointer(app_id))
        return layer

    def forget_app(self, app_id: str, slugs_dir: Path) -> None:
        """A destroyed app: its pointer and its layers. A slug of its that another app still
        runs (promoted, and handed over) loses only the app's own unpacked copy, the one
        stacked on those layers: the other app's user unpacks the archive anyway."""
        self._pointer(app_id).unlink(missing_ok=True)
        mine = self.root / app_id
        for manifest in slugs_dir.glob(f"*{MANIFEST_SUFFIX}"):
            if any(mine in layer.parents for layer in _manifest_layers(manifest)):
                unpacked = manifest.with_name(manifest.name.removesuffix(MANIFEST_SUFFIX))
                remove_recorded(unpacked)
                shutil.rmtree(unpacked, ignore_errors=True)
        self.sweep(slugs_dir, only_app=app_id)

    def sweep(self, slugs_dir: Path, only_app: str | None = None) -> list[Path]:
        """Remove layers neither an app points at nor a slug stacks on (what a crash, or a
        destroyed app, leaves), with their archives. Run when no build is running: at
        start-up, or for an app that no longer exists."""
        used = {
            layer
            for manifest in slugs_dir.glob(f"*{MANIFEST_SUFFIX}")
            for layer in _manifest_layers(manifest)
        }
        for pointer in self.cache_dir.glob(f"*{POINTER_SUFFIX}"):
            current = self.current(pointer.name.removesuffix(POINTER_SUFFIX))
            if current is not None:
                used.add(current)
        removed = []
        apps = [self.root / only_app] if only_app else sorted(self.root.glob("*"))
        for app_dir in apps:
            for entry in sorted(app_dir.glob("*")) if app_dir.is_dir() else ():
                if entry.is_dir() and entry not in used:
                    shutil.rmtree(entry, ignore_errors=True)
                    archive_path(entry).unlink(missing_ok=True)
                    removed.append(entry)
                elif entry.name.startswith(".tmp-") or (
                    entry.name.endswith(ARCHIVE_SUFFIX)
                    and not entry.with_name(entry.name.removesuffix(ARCHIVE_SUFFIX)).is_dir()
                ):
                    entry.unlink(missing_ok=True)  # half-written, or its layer is gone
            with contextlib.suppress(OSError):
                app_dir.rmdir()  # only once empty
        return removed


def archive_path(layer: Path) -> Path:
    """The layer's files as the tail of a slug archive (see ``ensure_archive``)."""
    return layer.with_name(layer.name + ARCHIVE_SUFFIX)


async def ensure_archive(layer: Path) -> Path:
    """The layer's archive, made once per layer: a zstd-compressed tar whose members are
    named as in a slug (``./.heroku/python/...``; symlink targets untouched), appended to
    each layered slug's own archive (``cove.builder.slug.write_layered_slug``)."""
    archive = archive_path(layer)
    if archive.is_file():
        return archive
    tmp = layer.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex}")
    script = (
        'set -o pipefail; tar -cf - --transform="s,^\\.,./.heroku/python,S" -C "$1" . '
        f'| {ZSTD} > "$2"'
    )
    argv = ["bash", "-c", script, "layer-archive", str(layer), str(tmp)]
    await write_archive(argv, tmp, "the layer's archive")
    tmp.replace(archive)
    return archive


def manifest_path(unpacked: Path) -> Path:
    return unpacked.with_name(unpacked.name + MANIFEST_SUFFIX)


def upper_path(unpacked: Path) -> Path:
    return unpacked.with_name(unpacked.name + UPPER_SUFFIX)


def record(unpacked: Path, layer: Path, upper: Path) -> None:
    """Keep a build's venv upper directory beside the slug unpacked at ``unpacked`` and
    name the layers it stacks on. Called before the unpacked directory appears, so a slug
    directory is never without its manifest."""
    upper.rename(upper_path(unpacked))
    # Relative to the slugs directory, so that COVE_HOME can move.
    relative = os.path.relpath(layer, unpacked.parent)
    tmp = manifest_path(unpacked).with_suffix(".tmp")
    tmp.write_text(json.dumps({"layers": [relative], "upper": upper_path(unpacked).name}))
    tmp.replace(manifest_path(unpacked))


def _read_manifest(manifest: Path) -> tuple[list[Path], Path] | None:
    """(the layers, lowest first, and the upper directory) a manifest names; None if it
    can't be read."""
    try:
        data = json.loads(manifest.read_text())
        layers = [Path(os.path.normpath(manifest.parent / str(p))) for p in data["layers"]]
        return layers, manifest.parent / str(data["upper"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _manifest_layers(manifest: Path) -> list[Path]:
    read = _read_manifest(manifest)
    return read[0] if read is not None else []


def venv_layers(unpacked: Path) -> tuple[Path, ...] | None:
    """The directories stacked at /app/.heroku/python for the slug unpacked at
    ``unpacked``, lowest first; None if it is a plain (flat) slug. An empty tuple means the
    manifest names a layer that is gone: the directory can't be used as it is."""
    manifest = manifest_path(unpacked)
    if not manifest.exists():
        return None
    read = _read_manifest(manifest)
    if read is None or not read[0]:
        return ()
    stack = (*read[0], read[1])
    return stack if all(p.is_dir() for p in stack) else ()


def remove_recorded(unpacked: Path) -> None:
    shutil.rmtree(upper_path(unpacked), ignore_errors=True)
    manifest_path(unpacked).unlink(missing_ok=True)


def prepare_mountpoint(root: Path) -> Path | None:
    """``root/.heroku/python``, created as an empty directory for the venv overlay; None
    when the app's source has that path or makes it unsafe (``.heroku`` a link or a file):
    the buildpack then reports it."""
    parent = root / VENV_IN_APP[0]
    target = parent / VENV_IN_APP[1]
    if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
        return None
    if target.exists() or target.is_symlink():
        return None
    target.mkdir(parents=True)
    return target
