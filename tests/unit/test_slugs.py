"""Slug archives: zstd, content-addressed, unpacked once per owner; older .tgz still read."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from cove.builder.slug import (
    ensure_unpacked,
    keep_unpacked,
    remove_slug,
    slug_path,
    unpacked_dir,
    write_slug,
)


def build_dir(root: Path) -> Path:
    app = root / "build"
    (app / "pkg").mkdir(parents=True)
    (app / "pkg" / "mod.py").write_text("print('hi')\n")
    (app / "Procfile").write_text("web: python -m pkg.mod\n")
    return app


def test_slug_is_a_zstd_archive_named_by_its_checksum(tmp_path: Path) -> None:
    slugs = tmp_path / "slugs"
    slugs.mkdir()
    checksum, path, size = asyncio.run(write_slug(build_dir(tmp_path), slugs))
    assert path.name == f"{checksum.removeprefix('SHA256:')}.tar.zst"
    assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
    assert size == path.stat().st_size
    assert slug_path(slugs, checksum) == path
    assert unpacked_dir(path) == slugs / checksum.removeprefix("SHA256:")
    assert list(slugs.iterdir()) == [path]  # no temporary file left

    keep_unpacked(tmp_path / "build", path)
    assert (unpacked_dir(path) / "Procfile").is_file()
    remove_slug(path)
    assert list(slugs.iterdir()) == []


def test_older_tgz_slugs_are_still_found_and_unpacked(tmp_path: Path) -> None:
    slugs = tmp_path / "slugs"
    slugs.mkdir()
    app = build_dir(tmp_path)
    legacy = slugs / f"{'a' * 64}.tgz"
    subprocess.run(["tar", "-czf", str(legacy), "-C", str(app), "."], check=True)
    assert slug_path(slugs, "SHA256:" + "a" * 64) == legacy
    unpacked = asyncio.run(ensure_unpacked(legacy))
    assert unpacked == slugs / ("a" * 64)
    assert (unpacked / "pkg" / "mod.py").read_text() == "print('hi')\n"
