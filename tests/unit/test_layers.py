"""Virtualenv layers: an app's cached venv kept once, stacked under builds and slugs instead
of copied (cove.builder.layers); layered slugs' archives, unpacking and interpreter lookup;
the overlay mounts themselves in real bwrap."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from cove import sandbox
from cove.builder import layers
from cove.builder.layers import Layers
from cove.builder.slug import (
    ensure_unpacked,
    remove_slug,
    venv_interpreter,
    write_layered_slug,
    write_slug,
)

needs_overlays = pytest.mark.skipif(
    not sandbox.supports_ephemeral_mounts(), reason="needs overlay mounts in bwrap"
)


def _venv(path: Path, python: str = "/usr/bin/python3.13") -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "lib" / "site-packages" / "django").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (path / "bin" / "python").symlink_to(python)
    (path / "lib" / "site-packages" / "django" / "__init__.py").write_text("VERSION = 5\n")
    os.link(path / "pyvenv.cfg", path / "lib" / "pyvenv-link.cfg")
    return path


def _home(tmp_path: Path) -> tuple[Layers, Path, Path]:
    cache_dir, slugs = tmp_path / "cache", tmp_path / "slugs"
    for d in (cache_dir / "app1", slugs):
        d.mkdir(parents=True)
    return Layers(tmp_path / "layers", cache_dir), cache_dir, slugs


def test_a_saved_venv_becomes_the_apps_layer_by_a_rename(tmp_path: Path) -> None:
    store, cache_dir, _ = _home(tmp_path)
    assert store.current("app1") is None
    assert store.adopt("app1", cache_dir / "app1") is None  # nothing saved yet
    saved = _venv(cache_dir / "app1" / layers.CACHE_VENV)
    inode = saved.stat().st_ino
    layer = store.adopt("app1", cache_dir / "app1")
    assert layer is not None and layer.stat().st_ino == inode  # moved, not copied
    assert not saved.exists()
    assert store.current("app1") == layer
    # The pointer lives outside the cache, which the app's build may write.
    assert (cache_dir / "app1.python-layer").read_text() == layer.name


def test_a_builds_own_venv_can_be_taken_but_not_through_a_link(tmp_path: Path) -> None:
    store, _, _ = _home(tmp_path)
    root = tmp_path / "build"
    venv = _venv(root / ".heroku" / "python")
    layer = store.take("app1", venv)
    assert layer is not None and store.current("app1") == layer
    assert not venv.exists() and (layer / "pyvenv.cfg").is_file()
    elsewhere = _venv(tmp_path / "host" / "python")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".heroku").symlink_to(elsewhere.parent)
    assert store.take("app1", linked / ".heroku" / "python") is None
    assert elsewhere.is_dir() and store.current("app1") == layer


def test_a_linked_or_tampered_cache_is_not_adopted(tmp_path: Path) -> None:
    store, cache_dir, _ = _home(tmp_path)
    other = _venv(tmp_path / "elsewhere")
    (cache_dir / "app1" / layers.CACHE_VENV).symlink_to(other)
    assert store.adopt("app1", cache_dir / "app1") is None
    (cache_dir / "app1.python-layer").write_text("../../elsewhere")
    assert store.current("app1") is None


def test_a_slug_names_its_layers_and_is_unusable_when_one_is_gone(tmp_path: Path) -> None:
    layer = _venv(tmp_path / "layer")
    upper = tmp_path / "upper"
    (upper / "bin").mkdir(parents=True)
    unpacked = tmp_path / "slugs" / "abc"
    unpacked.parent.mkdir()
    assert layers.venv_layers(unpacked) is None  # a flat slug
    layers.record(unpacked, layer, upper)
    unpacked.mkdir()
    assert layers.venv_layers(unpacked) == (layer, layers.upper_path(unpacked))
    assert not upper.exists()  # moved beside the slug
    assert venv_interpreter(unpacked) == "/usr/bin/python3.13"
    # The upper layer's file wins, as in the overlay.
    (layers.upper_path(unpacked) / "bin" / "python").symlink_to("/usr/bin/python3.12")
    assert venv_interpreter(unpacked) == "/usr/bin/python3.12"
    (layers.upper_path(unpacked) / "bin").rename(tmp_path / "gone")
    layer.rename(tmp_path / "layer-gone")
    assert layers.venv_layers(unpacked) == ()


def test_sweep_keeps_what_an_app_or_a_slug_uses_and_removes_the_rest(tmp_path: Path) -> None:
    store, cache_dir, slugs = _home(tmp_path)
    _venv(cache_dir / "app1" / layers.CACHE_VENV)
    current = store.adopt("app1", cache_dir / "app1")
    assert current is not None
    stacked = _venv(store.root / "app1" / "stacked")
    orphan = _venv(store.root / "app1" / "orphan")
    (store.root / "app1" / "orphan.tar.zst").write_bytes(b"x")
    (store.root / "app1" / ".tmp-1-2").write_bytes(b"x")
    upper = tmp_path / "upper"
    upper.mkdir()
    layers.record(slugs / "abc", stacked, upper)

    assert store.sweep(slugs) == [orphan]
    assert sorted(p.name for p in (store.root / "app1").iterdir()) == sorted(
        [current.name, "stacked"]
    )
    # The app destroyed, its slug "abc" handed over to an app it was promoted to: the
    # destroyed app's copy stacked on its layers goes, the archive stays.
    (slugs / "abc").mkdir()
    (slugs / "abc.tar.zst").write_bytes(b"archive")
    store.forget_app("app1", slugs)
    assert not (store.root / "app1").exists()
    assert sorted(p.name for p in slugs.iterdir()) == ["abc.tar.zst"]


def test_a_layered_slug_archive_unpacks_to_the_whole_app(tmp_path: Path) -> None:
    root = tmp_path / "build"
    (root / ".heroku" / "python").mkdir(parents=True)  # the mount point
    (root / "staticfiles").mkdir()
    (root / "app.py").write_text("print('hi')\n")
    (root / "staticfiles" / "app.css").write_text("body {}\n")
    layer = _venv(tmp_path / "layers" / "app1" / "l1")
    slugs = tmp_path / "slugs"
    slugs.mkdir()

    venv_archive = asyncio.run(layers.ensure_archive(layer))
    assert venv_archive == layers.archive_path(layer)
    made = venv_archive.stat().st_mtime_ns
    assert asyncio.run(layers.ensure_archive(layer)) == venv_archive  # made once
    assert venv_archive.stat().st_mtime_ns == made
    checksum, path, size = asyncio.run(write_layered_slug(root, venv_archive, slugs))
    assert size == path.stat().st_size
    assert checksum.removeprefix("SHA256:") == path.name.removesuffix(".tar.zst")

    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(path), "-C", str(out)], check=True)
    assert (out / "app.py").read_text() == "print('hi')\n"
    assert (out / "staticfiles" / "app.css").is_file()
    venv = out / ".heroku" / "python"
    assert (
        venv / "lib" / "site-packages" / "django" / "__init__.py"
    ).read_text() == "VERSION = 5\n"
    assert os.readlink(venv / "bin" / "python") == "/usr/bin/python3.13"  # target untouched
    assert (venv / "lib" / "pyvenv-link.cfg").stat().st_ino == (venv / "pyvenv.cfg").stat().st_ino
    assert venv_interpreter(out) == "/usr/bin/python3.13"

    # The same tree archived flat unpacks to the same files.
    flat_root = tmp_path / "flat"
    subprocess.run(["cp", "-a", str(out), str(flat_root)], check=True)
    _, flat, _ = asyncio.run(write_slug(flat_root, slugs))
    listing = [
        sorted(
            subprocess.run(["tar", "-tf", str(p)], capture_output=True, text=True).stdout.split()
        )
        for p in (path, flat)
    ]
    assert listing[0] == listing[1]


def test_unpacking_a_layered_slug_whose_layer_is_gone_falls_back_to_its_archive(
    tmp_path: Path,
) -> None:
    slugs = tmp_path / "slugs"
    root = tmp_path / "build"
    (root / ".heroku" / "python").mkdir(parents=True)
    (root / "app.py").write_text("x = 1\n")
    layer = _venv(tmp_path / "layers" / "app1" / "l1")
    slugs.mkdir()
    venv_archive = asyncio.run(layers.ensure_archive(layer))
    _, path, _ = asyncio.run(write_layered_slug(root, venv_archive, slugs))
    unpacked = slugs / path.name.removesuffix(".tar.zst")
    upper = tmp_path / "upper"
    upper.mkdir()
    layers.record(unpacked, layer, upper)
    root.rename(unpacked)

    assert asyncio.run(ensure_unpacked(path)) == unpacked
    flat = asyncio.run(ensure_unpacked(path, flat=True))  # a host without overlays
    assert flat != unpacked and (flat / ".heroku" / "python" / "pyvenv.cfg").is_file()
    layer.rename(tmp_path / "gone")
    assert asyncio.run(ensure_unpacked(path)) == flat  # the layered copy is unusable

    remove_slug(path)
    assert sorted(slugs.iterdir()) == []


def test_a_mount_point_is_made_only_where_the_source_leaves_it_free(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert layers.prepare_mountpoint(fresh) == fresh / ".heroku" / "python"
    assert (fresh / ".heroku" / "python").is_dir()
    shipped = tmp_path / "shipped"
    (shipped / ".heroku" / "python").mkdir(parents=True)
    assert layers.prepare_mountpoint(shipped) is None  # the buildpack reports it
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".heroku").symlink_to("/etc")
    assert layers.prepare_mountpoint(linked) is None
    assert not Path("/etc/python").exists()


@needs_overlays
def test_overlay_mounts_stack_layers_and_keep_writes_where_asked(tmp_path: Path) -> None:
    lower = _venv(tmp_path / "lower")
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    target = "/app/.heroku/python"

    def run(script: str, mount: sandbox.Mount) -> str:
        with sandbox.command(
            ["/bin/bash", "-c", script], mounts=[mount], env={"PATH": "/usr/bin:/bin"}, hostname="t"
        ) as launch:
            done = subprocess.run(
                launch.argv, capture_output=True, text=True, pass_fds=launch.pass_fds, timeout=60
            )
        assert done.returncode == 0, done.stderr
        return done.stdout

    # A build: writes land in its upper directory; the layer is never written.
    build = sandbox.Mount(lower, target, writable_upper=(upper, work))
    run(f"echo new > {target}/added.txt && rm -r {target}/lib/site-packages/django", build)
    assert (upper / "added.txt").read_text() == "new\n"
    assert (lower / "lib" / "site-packages" / "django" / "__init__.py").is_file()
    # A dyno: the layer with the build's upper on top, under a throwaway layer of its own.
    dyno = sandbox.Mount(lower, target, ephemeral=True, layers=(upper,))
    seen = run(f"ls {target} {target}/lib/site-packages; echo x > {target}/scratch", dyno)
    assert "added.txt" in seen and "django" not in seen
    assert not (upper / "scratch").exists() and not (lower / "scratch").exists()
    assert json.dumps(sorted(os.listdir(lower))) == json.dumps(sorted(["bin", "lib", "pyvenv.cfg"]))


def test_a_slugs_layers_are_found_after_cove_home_moves(tmp_path: Path) -> None:
    home = tmp_path / "home"
    layer = _venv(home / "layers" / "app1" / "l1")
    upper = home / "builds" / "b1" / "python-upper"
    upper.mkdir(parents=True)
    unpacked = home / "slugs" / "abc"
    unpacked.parent.mkdir()
    layers.record(unpacked, layer, upper)
    unpacked.mkdir()
    moved = tmp_path / "elsewhere" / "home"
    moved.parent.mkdir()
    home.rename(moved)
    found = layers.venv_layers(moved / "slugs" / "abc")
    assert found == (moved / "layers" / "app1" / "l1", moved / "slugs" / "abc.python-upper")
    assert venv_interpreter(moved / "slugs" / "abc") == "/usr/bin/python3.13"
