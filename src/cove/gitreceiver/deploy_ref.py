"""Keeping a repo's deploy branch on the commit that is live.

git moves the pushed branch only after the pre-receive hook exits, and the hook exits only
after the new release is live. If `cove server` dies in between (during the dyno swap), the
release is live and the branch still names the previous commit: a teammate's clone, or the
next push, would start from the wrong base. So the hook keeps the pushed objects outside
git's quarantine (a rejected push would delete them) and records the push beside the repo;
``settle`` later moves the branch if that push's release went live and git didn't.

Imported by the hook on every push: standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

RECORD = "cove-deploy.json"  # in the bare repo, beside git's own files
ZERO = "0" * 40


def keep_pushed_objects(quarantine: Path, objects: Path) -> None:
    """Hard-link the pushed objects from git's quarantine into the repo's object store
    (git does the same when it accepts the push, and takes an object already in place as
    done). Pack indexes last: git finds a pack by its index. ``.keep`` locks are git's own
    and are left out."""
    files = [p for p in quarantine.rglob("*") if p.is_file() and p.suffix != ".keep"]
    for source in sorted(files, key=lambda p: p.suffix == ".idx"):
        target = objects / source.relative_to(quarantine)
        if target.exists():
            continue
        target.parent.mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(source, target)


def record_push(git_dir: Path, ref: str, old: str, new: str, build_id: str) -> None:
    tmp = git_dir / f".{RECORD}.tmp"
    tmp.write_text(json.dumps({"ref": ref, "old": old, "new": new, "build": build_id}))
    tmp.replace(git_dir / RECORD)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def settle(repo: Path, went_live: Callable[[str], bool]) -> str | None:
    """Move the branch of the last push recorded in ``repo`` to its commit if the push's
    build went live (``went_live(build_id)``) while the branch stayed where the push found
    it. Returns what was done, or None. Run only while no push to ``repo`` is in flight."""
    try:
        push = json.loads((repo / RECORD).read_text())
        ref, old, new, build_id = push["ref"], push["old"], push["new"], push["build"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    current = _git(repo, "rev-parse", "--verify", "--quiet", ref).stdout.strip() or ZERO
    if current != old or current == new or not went_live(build_id):
        return None
    if _git(repo, "cat-file", "-e", f"{new}^{{commit}}").returncode != 0:
        return None  # pushed by a Cove without this record's object keeping
    # Compare-and-swap: only from the commit the push found.
    moved = _git(repo, "update-ref", "-m", "cove: the deploy went live", ref, new, old)
    if moved.returncode != 0:
        return None
    return f"{ref.removeprefix('refs/heads/')} moved from {old[:7]} to {new[:7]}"
