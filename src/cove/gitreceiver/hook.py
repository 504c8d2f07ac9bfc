"""The pre-receive hook: runs inside ``git receive-pack`` for every push.

It checks the pushed ref, archives the pushed commit (its objects are only visible to this
process until the hook accepts), uploads it as a source, starts a build through the API and
streams the build output to the pusher. Exit status 0 accepts the push; anything else
rejects it and leaves the app's running release untouched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from cove.client.trust import client_context, only
from cove.gitreceiver.deploy_ref import keep_pushed_objects, record_push
from cove.gitreceiver.hook_api import HookApi, HookApiError

ZERO = "0" * 40
DEPLOY_BRANCHES = ("refs/heads/main", "refs/heads/master")


class Update(NamedTuple):
    old: str
    new: str
    ref: str


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reject(*lines: str) -> int:
    say()
    for line in lines:
        say(f" !     {line}")
    say()
    return 1


def check_refs(updates: list[tuple[str, str, str]]) -> Update | tuple[str, ...]:
    """The branch update to deploy, or the lines explaining why the push is refused."""
    deploys = [u for u in updates if u[2] in DEPLOY_BRANCHES]
    others = [u[2] for u in updates if u[2] not in DEPLOY_BRANCHES]
    if others:
        branch = others[0].removeprefix("refs/heads/")
        return (
            f"Pushed to a non-deploy branch: {branch}.",
            "Cove deploys only main or master. Deploy another branch with:",
            f"    git push cove {branch}:main",
        )
    if len(deploys) != 1:
        return ("Push either main or master, not both.",)
    old, new, ref = deploys[0]
    if new == ZERO:
        return (f"Deleting {ref.removeprefix('refs/heads/')} is not allowed.",)
    current = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", ref], capture_output=True, text=True
    ).stdout.strip()
    if (current or ZERO) != old:
        return (
            "The app was updated by another push while this one waited.",
            "Fetch, merge and push again.",
        )
    return Update(old, new, ref)


def main() -> int:
    updates = [tuple(line.split()) for line in sys.stdin.read().splitlines() if line.strip()]
    verdict = check_refs([u for u in updates if len(u) == 3])
    if not isinstance(verdict, Update):
        return reject(*verdict, "Push rejected.")
    commit = verdict.new
    git_dir = Path(os.environ.get("GIT_DIR", ".")).absolute()
    quarantine = os.environ.get("GIT_QUARANTINE_PATH")
    if quarantine:
        # The release can go live before git accepts the push: its commit must outlive a
        # crash that makes git discard the quarantine (see deploy_ref). Best effort: the
        # push itself doesn't depend on it.
        with contextlib.suppress(OSError):
            keep_pushed_objects(Path(quarantine), git_dir / "objects")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return reject(f"Could not archive {commit}: {archive.stderr.decode(errors='replace')}")
    app = os.environ["COVE_APP"]
    # The API's certificate is Cove's own, unless an operator's covers its address: Cove's
    # CA alone is tried first, the system's CAs as well only if it doesn't verify.
    ca = os.environ.get("COVE_CA_FILE")
    own = Path(ca) if ca and Path(ca).is_file() else None
    context = only(own) if own else client_context()
    url, token = os.environ["COVE_API_URL"], os.environ["COVE_API_KEY"]
    wider = (lambda: client_context(own)) if own else None
    with HookApi(url, token, context, wider) as api:
        try:
            blob = api.create_source()["source_blob"]
            api.upload_source(blob["put_url"], archive.stdout)
            build = api.create_build(app, blob["get_url"], commit)
            with contextlib.suppress(OSError):
                record_push(git_dir, verdict.ref, verdict.old, commit, build["id"])
            for line in api.stream_build_output(build["output_stream_url"]):
                say(line)
            build = api.get_build(app, build["id"])
            if build["status"] != "succeeded" or build["release"] is None:
                return 1
            # A build can succeed and its release still fail (the release command did).
            release = api.get_release(app, build["release"]["id"])
        except HookApiError as exc:
            return reject(f"Cove could not run the build: {exc}", "Push rejected.")
    return 0 if release["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
