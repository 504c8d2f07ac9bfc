"""Bare repositories under ``COVE_HOME/repos``, each with Cove's pre-receive hook."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path


def hook_script() -> str:
    return f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cove.gitreceiver.hook\n"


def ensure_repo(repos_dir: Path, app: str) -> Path:
    path = repos_dir / f"{app}.git"
    if not (path / "HEAD").is_file():
        subprocess.run(
            ["git", "init", "--bare", "--quiet", "--initial-branch=main", str(path)], check=True
        )
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
    hook = path / "hooks" / "pre-receive"
    script = hook_script()
    if not hook.is_file() or hook.read_text() != script:
        hook.write_text(script)
        hook.chmod(0o755)
    return path


def remove_repo(repos_dir: Path, app: str) -> None:
    shutil.rmtree(repos_dir / f"{app}.git", ignore_errors=True)


def move_repo(repos_dir: Path, old: str, new: str) -> None:
    """An app's repository follows its new name (nothing to do before its first push)."""
    source, target = repos_dir / f"{old}.git", repos_dir / f"{new}.git"
    if source.is_dir() and not target.exists():
        source.rename(target)
