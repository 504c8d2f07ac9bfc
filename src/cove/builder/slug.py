"""Slugs: immutable, content-addressed archives of a built app (``<sha256>.tar.zst``;
slugs written by earlier versions of Cove are ``.tgz`` and still read)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from cove.builder.layers import remove_recorded, venv_layers
from cove.builder.tar import TAR_COMPRESS, ZSTD, write_archive
from cove.sandbox.users import SandboxUser

SUFFIX = ".tar.zst"
LEGACY_SUFFIX = ".tgz"
# Where the Python buildpack's virtualenv links to the stack's interpreter (by absolute
# path, see cove.builder.stack).
VENV_PYTHON = (".heroku", "python", "bin", "python")


async def write_slug(build_root: Path, slugs_dir: Path) -> tuple[str, Path, int]:
    """Archive ``build_root`` into ``slugs_dir/<sha256>.tar.zst``; return (checksum, path,
    size)."""
    tmp = temporary_archive(slugs_dir, build_root)
    argv = ["tar", TAR_COMPRESS, "-cf", str(tmp), "-C", str(build_root), "."]
    await write_archive(argv, tmp, "the slug")
    return await keep_archive(tmp, slugs_dir)


async def write_layered_slug(
    build_root: Path, venv_archive: Path, slugs_dir: Path
) -> tuple[str, Path, int]:
    """The archive of a build whose venv is an unchanged layer: the app's own files archived
    now, then the layer's archive, made once (``cove.builder.layers.ensure_archive``),
    appended. Both are zstd frames of one tar stream (the first without tar's end-of-archive
    blocks: 1024 zero bytes with 512-byte records), so the result is an ordinary .tar.zst."""
    tmp = temporary_archive(slugs_dir, build_root)
    script = (
        'set -o pipefail; tar -b1 -cf - --exclude=./.heroku/python -C "$1" . '
        f'| head -c -1024 | {ZSTD} > "$2" && cat "$3" >> "$2"'
    )
    argv = ["bash", "-c", script, "slug", str(build_root), str(tmp), str(venv_archive)]
    await write_archive(argv, tmp, "the slug")
    return await keep_archive(tmp, slugs_dir)


def temporary_archive(slugs_dir: Path, key: object) -> Path:
    """Where a slug archive is written before its checksum names it (the start-up sweep
    removes leftovers)."""
    return slugs_dir / f".tmp-{os.getpid()}-{id(key)}{SUFFIX}"


async def keep_archive(tmp: Path, slugs_dir: Path) -> tuple[str, Path, int]:
    """Name a written archive by its SHA-256; return (checksum, path, size)."""
    digest = await asyncio.to_thread(_sha256, tmp)
    final = slugs_dir / f"{digest}{SUFFIX}"
    tmp.replace(final)
    return f"SHA256:{digest}", final, final.stat().st_size


def slug_path(slugs_dir: Path, checksum: str) -> Path:
    digest = checksum.removeprefix("SHA256:")
    legacy = slugs_dir / f"{digest}{LEGACY_SUFFIX}"
    return legacy if legacy.exists() else slugs_dir / f"{digest}{SUFFIX}"


def unpacked_dir(slug: Path) -> Path:
    """Where this host keeps the slug unpacked (read-only: dynos mount it under a
    throwaway overlay, so they never write to it)."""
    return slug.parent / slug.name.removesuffix(SUFFIX).removesuffix(LEGACY_SUFFIX)


def keep_unpacked(build_root: Path, slug: Path) -> None:
    """Move the build directory into place as the unpacked slug: a rename, no copy."""
    target = unpacked_dir(slug)
    if not target.exists():
        build_root.rename(target)


async def ensure_unpacked(slug: Path, owner: SandboxUser | None = None, flat: bool = False) -> Path:
    """The unpacked slug, owned by ``owner`` (the user its dynos run as, who must be able to
    write to /app), unpacking the archive first if this host doesn't have such a copy yet (a
    slug built elsewhere, kept only as its archive, or built by another app's user).

    The builder's own copy may keep its venv as layers (``cove.builder.layers``); ``flat``
    asks for a copy that holds everything itself, as does a copy whose layers are gone."""
    target = unpacked_dir(slug)
    layered = venv_layers(target) if target.is_dir() else None
    if target.is_dir() and (
        (owner is not None and not owner.owns(target))
        or layered == ()
        or (flat and layered is not None)
    ):
        suffix = f"u{owner.uid}" if owner is not None else "flat"
        target = slug.parent / f"{target.name}.{suffix}"
    if target.is_dir():
        return target
    tmp = slug.parent / f".unpack-{os.getpid()}-{id(target)}"
    tmp.mkdir()
    proc = await asyncio.create_subprocess_exec(
        # tar recognises the compression (zstd, or gzip for older slugs) by itself.
        "tar",
        "-xf",
        str(slug),
        "-C",
        str(tmp),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"could not unpack slug {slug.name}: {err.decode(errors='replace')}")
    if owner is not None:
        await asyncio.to_thread(owner.chown, tmp, recursive=True)
    try:
        tmp.rename(target)
    except OSError:  # unpacked concurrently by another dyno start: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def venv_interpreter(app_dir: Path) -> str | None:
    """The absolute path the slug's virtualenv runs its interpreter from, or None (no venv,
    or a relative link). A slug is the app's to write: no symlink inside it is followed, so
    it can't make Cove look at (or report on) a path of the host."""
    layered = venv_layers(app_dir)
    # Where to look, and the path from there to bin/: the venv's layers, topmost first (an
    # overlay shows the highest layer's file), or the slug's own tree.
    starts: list[tuple[Path, tuple[str, ...]]] = (
        [(layer, VENV_PYTHON[2:-1]) for layer in reversed(layered)]
        if layered
        else [(app_dir, VENV_PYTHON[:-1])]
    )
    for start, parts in starts:
        path = start
        for part in parts:
            path = path / part
            if path.is_symlink() or not path.is_dir():
                break
        else:
            try:
                target = os.readlink(path / VENV_PYTHON[-1])
            except OSError:
                continue
            return target if target.startswith("/") else None
    return None


def slug_interpreter(slug: Path) -> str | None:
    """``venv_interpreter`` of a slug: read from an unpacked copy, else from the archive's
    listing (no extraction)."""
    unpacked = unpacked_dir(slug)
    for candidate in (unpacked, *_copies(unpacked)):
        if candidate.is_dir() and venv_layers(candidate) != ():  # not one whose layer is gone
            return venv_interpreter(candidate)
    member = "./" + "/".join(VENV_PYTHON)
    try:
        listing = subprocess.run(
            ["tar", "-tvf", str(slug), member], capture_output=True, text=True, timeout=300
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in listing.splitlines():
        if line.startswith("l") and f" {member} -> " in line:
            target = line.split(f" {member} -> ", 1)[1]
            return target if target.startswith("/") else None
    return None


def remove_slug(slug: Path) -> None:
    slug.unlink(missing_ok=True)
    unpacked = unpacked_dir(slug)
    remove_recorded(unpacked)
    for path in (unpacked, *_copies(unpacked)):
        shutil.rmtree(path, ignore_errors=True)


def _copies(unpacked: Path) -> list[Path]:
    """The other unpacked copies of a slug: one per app user (``.u<uid>``), and a flat one
    where its own copy can't serve (``.flat``)."""
    parent = unpacked.parent
    return sorted([*parent.glob(f"{unpacked.name}.u*"), *parent.glob(f"{unpacked.name}.flat")])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.1f}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1024
    return f"{value:.1f}G"
