"""Slugs: immutable, content-addressed ``.tgz`` archives of a built app."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path


async def write_slug(build_root: Path, slugs_dir: Path) -> tuple[str, Path, int]:
    """Archive ``build_root`` into ``slugs_dir/<sha256>.tgz``; return (checksum, path, size).

    gzip level 1: slugs are written on every deploy, and level 1 is several times faster
    than the default for a few percent more bytes.
    """
    tmp = slugs_dir / f".tmp-{os.getpid()}-{id(build_root)}.tgz"
    proc = await asyncio.create_subprocess_exec(
        "tar",
        "--use-compress-program=gzip -1",
        "-cf",
        str(tmp),
        "-C",
        str(build_root),
        ".",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"could not write the slug: {err.decode(errors='replace')}")
    digest = await asyncio.to_thread(_sha256, tmp)
    final = slugs_dir / f"{digest}.tgz"
    tmp.replace(final)
    return f"SHA256:{digest}", final, final.stat().st_size


def slug_path(slugs_dir: Path, checksum: str) -> Path:
    return slugs_dir / f"{checksum.removeprefix('SHA256:')}.tgz"


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
