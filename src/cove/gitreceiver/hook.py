"""The pre-receive hook: runs inside ``git receive-pack`` for every push.

It checks the pushed ref, archives the pushed commit (its objects are only visible to this
process until the hook accepts), uploads it as a source, starts a build through the API and
streams the build output to the pusher. Exit status 0 accepts the push; anything else
rejects it and leaves the app's running release untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

ZERO = "0" * 40
DEPLOY_BRANCHES = ("refs/heads/main", "refs/heads/master")


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reject(*lines: str) -> int:
    say()
    for line in lines:
        say(f" !     {line}")
    say()
    return 1


def check_refs(updates: list[tuple[str, str, str]]) -> str | tuple[str, ...]:
    """The commit to deploy, or the lines explaining why the push is refused."""
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
    return new


def main() -> int:
    updates = [tuple(line.split()) for line in sys.stdin.read().splitlines() if line.strip()]
    verdict = check_refs([u for u in updates if len(u) == 3])
    if isinstance(verdict, tuple):
        return reject(*verdict, "Push rejected.")
    commit = verdict
    api, app = os.environ["COVE_API_URL"], os.environ["COVE_APP"]
    headers = {
        "Authorization": f"Bearer {os.environ['COVE_API_KEY']}",
        "Accept": "application/vnd.heroku+json; version=3",
    }
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return reject(f"Could not archive {commit}: {archive.stderr.decode(errors='replace')}")
    with httpx.Client(base_url=api, headers=headers, timeout=httpx.Timeout(60, read=None)) as c:
        try:
            blob = c.post("/sources").raise_for_status().json()["source_blob"]
            c.put(blob["put_url"], content=archive.stdout).raise_for_status()
            build = (
                c.post(
                    f"/apps/{app}/builds",
                    json={"source_blob": {"url": blob["get_url"], "version": commit}},
                )
                .raise_for_status()
                .json()
            )
            with c.stream("GET", build["output_stream_url"]) as stream:
                for line in stream.iter_lines():
                    say(line)
            build = c.get(f"/apps/{app}/builds/{build['id']}").raise_for_status().json()
            if build["status"] != "succeeded":
                return 1
            # A build can succeed and its release still fail (the release command did).
            release = c.get(f"/apps/{app}/releases/{build['release']['id']}").raise_for_status()
        except httpx.HTTPError as exc:
            return reject(f"Cove could not run the build: {exc}", "Push rejected.")
    return 0 if release.json()["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
