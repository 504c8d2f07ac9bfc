"""`cove stack:build`: the image every swarm dyno runs, whatever its app or release.

A Debian 12 root filesystem (debootstrap, or a tarball the operator gives) with the stack's
interpreters at the paths slugs link to, and the slug runner (``slug-runner``), which
fetches each dyno's slug from Cove as it starts: no image is built per release, and no
registry is needed (the image is imported into the node's Docker)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from cove.builder.stack import NODES_IN_SANDBOX, PYTHONS_IN_SANDBOX, Stack
from cove.swarm.engine import Engine

REPOSITORY = "cove-stack"
RUNNER = Path(__file__).with_name("slug-runner")
RUNNER_IN_IMAGE = "/cove/slug-runner"
# An attached one-off dyno's end of `cove run` (the slug runner starts it).
ATTACH = Path(__file__).with_name("dyno-attach")
ATTACH_IN_IMAGE = "/cove/dyno-attach"
SLUG_CACHE_IN_IMAGE = "/cove/slug-cache"
# What the runner and the stack's interpreters need beyond debootstrap's minbase: bash and
# util-linux (setpriv) are essential already; Debian's python3 is the interpreter slugs
# built on the host's /usr/bin/python3 link to.
PACKAGES = (
    "ca-certificates",
    "curl",
    "zstd",
    "tini",
    "python3",
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libbz2-1.0",
    "liblzma5",
    "libreadline8",
    "libncursesw6",
    "libgdbm6",
    "libuuid1",
    "zlib1g",
    "libexpat1",
    "libpq5",
)
SUITE = "bookworm"
# Parts of an interpreter's prefix no dyno needs: its own site-packages (slugs carry a
# virtualenv) and its test suite.
_SKIP = ("lib/python3*/site-packages/*", "lib/python3*/test/*", "lib/python3*/idlelib/*")


class StackBuildError(Exception):
    pass


def debootstrap(target: Path, mirror: str = "") -> None:
    """A minimal Debian 12 at ``target`` (needs root, and the Debian archive)."""
    if shutil.which("debootstrap") is None:
        raise StackBuildError(
            "debootstrap is not installed (apt-get install debootstrap), or give a root "
            "filesystem tarball with --rootfs."
        )
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE]
    argv += [str(target), *([mirror] if mirror else [])]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackBuildError(f"debootstrap failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")


def unpack_rootfs(tarball: Path, target: Path) -> None:
    done = subprocess.run(["tar", "-xf", str(tarball), "-C", str(target)], capture_output=True)
    if done.returncode != 0:
        raise StackBuildError(f"could not unpack {tarball}: {done.stderr.decode()[-1500:]}")


def add_stack(root: Path, stack: Stack) -> list[str]:
    """Copy the stack into the root filesystem where dynos expect it; returns what was
    added (interpreter prefixes, Cove's installs, Node.js runtimes)."""
    added: list[str] = []
    if stack.installs is not None and stack.installs.is_dir():
        _copy_tree(stack.installs, root, PYTHONS_IN_SANDBOX)
        added.append(str(PYTHONS_IN_SANDBOX))
    if stack.nodes is not None and stack.nodes.is_dir():
        _copy_tree(stack.nodes, root, NODES_IN_SANDBOX)
        added.append(str(NODES_IN_SANDBOX))
    for interp in stack.all():
        inside = PurePosixPath(stack.in_sandbox(interp.prefix))
        if inside.is_relative_to("/usr") or inside.is_relative_to(PYTHONS_IN_SANDBOX):
            continue  # the image's own Debian python3, or Cove's installs (above)
        _copy_tree(interp.prefix, root, inside)
        added.append(str(inside))
    return added


def _copy_tree(source: Path, root: Path, inside: PurePosixPath) -> None:
    target = root / str(inside).lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    skip = [f"--exclude=./{pattern}" for pattern in _SKIP]
    pack = subprocess.Popen(
        ["tar", "-cf", "-", *skip, "-C", str(source), "."], stdout=subprocess.PIPE
    )
    unpack = subprocess.run(["tar", "-xf", "-", "-C", str(target)], stdin=pack.stdout)
    assert pack.stdout is not None
    pack.stdout.close()
    if pack.wait() != 0 or unpack.returncode != 0:
        raise StackBuildError(f"could not copy {source} into the image")


def add_runner(root: Path) -> None:
    for source, inside in ((RUNNER, RUNNER_IN_IMAGE), (ATTACH, ATTACH_IN_IMAGE)):
        target = root / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755)
    (root / SLUG_CACHE_IN_IMAGE.lstrip("/")).mkdir(parents=True, exist_ok=True)


async def _tar_stream(root: Path) -> AsyncIterator[bytes]:
    proc = await asyncio.create_subprocess_exec(
        "tar", "--numeric-owner", "-cf", "-", "-C", str(root), ".", stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(1 << 20):
        yield chunk
    if await proc.wait() != 0:
        raise StackBuildError("could not archive the root filesystem")


def image_tag(root: Path, stack: Stack) -> str:
    """A tag that changes when the stack does (its interpreters, the runner)."""
    h = hashlib.sha256(RUNNER.read_bytes() + ATTACH.read_bytes())
    for interp in sorted(stack.all(), key=lambda i: str(i.path)):
        h.update(f"{interp.version}:{stack.in_sandbox(interp.path)}\n".encode())
    return h.hexdigest()[:12]


async def build(
    engine: Engine, stack: Stack, rootfs: Path | None = None, mirror: str = ""
) -> tuple[str, list[str]]:
    """Build and import the image; returns its reference (also tagged ``latest``) and
    what of the stack it holds."""
    with tempfile.TemporaryDirectory(prefix="cove-stack-") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        if rootfs is not None:
            await asyncio.to_thread(unpack_rootfs, rootfs, root)
        else:
            await asyncio.to_thread(debootstrap, root, mirror)
        added = await asyncio.to_thread(add_stack, root, stack)
        await asyncio.to_thread(add_runner, root)
        tag = image_tag(root, stack)
        await engine.import_image(_tar_stream(root), REPOSITORY, tag)
    await engine.tag_image(f"{REPOSITORY}:{tag}", REPOSITORY, "latest")
    return f"{REPOSITORY}:{tag}", added
