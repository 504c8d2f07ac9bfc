"""The deploy branch follows a push whose release went live while git gave up on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cove.gitreceiver.deploy_ref import ZERO, record_push, settle

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=check
    )
    return result.stdout.strip()


def commit(work: Path, name: str) -> str:
    (work / name).write_text(name)
    git(work, "add", name)
    git(work, "commit", "-q", "-m", name)
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    bare, work = tmp_path / "app.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    return bare, work


def rejecting_hook(bare: Path, keep: bool) -> None:
    """A pre-receive hook that refuses every push, as the hook does when the server dies
    under it (the API is gone), after keeping the pushed objects or not."""
    keep_call = (
        "keep_pushed_objects(Path(os.environ['GIT_QUARANTINE_PATH']), Path('objects'))"
        if keep
        else "pass"
    )
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\nfrom pathlib import Path\n"
        "from cove.gitreceiver.deploy_ref import keep_pushed_objects\n"
        f"{keep_call}\nsys.exit(1)\n"
    )
    hook.chmod(0o755)


@pytest.mark.parametrize("files", [1, 150])  # loose objects, and a pack (over unpackLimit)
def test_the_pushed_commit_outlives_a_rejected_push_only_if_kept(
    repos: tuple[Path, Path], files: int
) -> None:
    bare, work = repos
    for i in range(files):
        (work / f"f{i}").write_text(str(i))
    new = commit(work, "first")
    rejecting_hook(bare, keep=False)
    git(work, "push", "-q", str(bare), "main", check=False)
    assert git(bare, "cat-file", "-t", new, check=False) == ""  # git discarded it

    rejecting_hook(bare, keep=True)
    git(work, "push", "-q", str(bare), "main", check=False)
    assert git(bare, "cat-file", "-t", new) == "commit"
    assert git(bare, "rev-parse", "--verify", "-q", "main", check=False) == ""
    assert git(bare, "fsck", "--no-dangling") == ""

    # git accepts the same objects when a later push succeeds.
    (bare / "hooks" / "pre-receive").unlink()
    git(work, "push", "-q", str(bare), "main")
    assert git(bare, "rev-parse", "main") == new


def pushed_but_not_moved(repos: tuple[Path, Path]) -> tuple[Path, str, str]:
    """main at ``old`` in the bare repo; ``new`` pushed (objects kept) and recorded."""
    bare, work = repos
    old = commit(work, "first")
    git(work, "push", "-q", str(bare), "main")
    new = commit(work, "second")
    rejecting_hook(bare, keep=True)
    git(work, "push", "-q", str(bare), "main", check=False)
    record_push(bare, "refs/heads/main", old, new, "build-1")
    return bare, old, new


def test_settle_moves_the_branch_when_the_push_went_live(repos: tuple[Path, Path]) -> None:
    bare, old, new = pushed_but_not_moved(repos)
    assert settle(bare, lambda build: build == "build-1") == (
        f"main moved from {old[:7]} to {new[:7]}"
    )
    assert git(bare, "rev-parse", "main") == new
    assert settle(bare, lambda build: True) is None  # done: nothing more to do


def test_settle_leaves_the_branch_when_the_push_did_not_go_live(
    repos: tuple[Path, Path],
) -> None:
    bare, old, _ = pushed_but_not_moved(repos)
    assert settle(bare, lambda build: False) is None
    assert git(bare, "rev-parse", "main") == old


def test_settle_never_moves_a_branch_another_push_moved(repos: tuple[Path, Path]) -> None:
    bare, old, _ = pushed_but_not_moved(repos)
    other = git(bare, "commit-tree", "-p", old, "-m", "other", f"{old}^{{tree}}")
    git(bare, "update-ref", "refs/heads/main", other)
    assert settle(bare, lambda build: True) is None
    assert git(bare, "rev-parse", "main") == other


def test_settle_creates_the_branch_of_a_first_push(repos: tuple[Path, Path]) -> None:
    bare, work = repos
    new = commit(work, "first")
    rejecting_hook(bare, keep=True)
    git(work, "push", "-q", str(bare), "main", check=False)
    record_push(bare, "refs/heads/main", ZERO, new, "build-1")
    assert settle(bare, lambda build: True) is not None
    assert git(bare, "rev-parse", "main") == new


def test_settle_without_a_record_or_the_commit_does_nothing(repos: tuple[Path, Path]) -> None:
    bare, _ = repos
    assert settle(bare, lambda build: True) is None
    record_push(bare, "refs/heads/main", ZERO, "1" * 40, "build-1")  # objects not kept
    assert settle(bare, lambda build: True) is None
    assert git(bare, "rev-parse", "--verify", "-q", "main", check=False) == ""
