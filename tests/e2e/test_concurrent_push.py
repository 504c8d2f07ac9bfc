"""Concurrent pushes to one app are serialized and each is told its outcome."""

from __future__ import annotations

import shutil
import subprocess

from tests.e2e.harness import CoveServer, User


def test_two_concurrent_pushes(user: User, server: CoveServer) -> None:
    first = user.new_repo("flask-hello", "first")
    user.cove("apps:create", "contended", cwd=first)
    user.push(first)

    second = user.home / "second"
    shutil.copytree(first, second)
    for repo, text in ((first, "from first"), (second, "from second")):
        (repo / "app.py").write_text((repo / "app.py").read_text().replace("World!", text))
        user.commit_all(repo, text)

    procs = [
        subprocess.Popen(
            ["git", "push", "cove", "main"],
            cwd=repo,
            env=user.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for repo in (first, second)
    ]
    results = [(p.wait(600), p.communicate()[1]) for p in procs]
    winners = [i for i, (code, _) in enumerate(results) if code == 0]
    assert len(winners) == 1, results
    # The later push built against a branch that had moved: it is refused, not lost silently.
    loser_output = results[1 - winners[0]][1]
    assert "updated by another push" in loser_output or "fetch first" in loser_output, loser_output
    assert "Released" in results[winners[0]][1]
    expected = ("Hello from first", "Hello from second")[winners[0]]
    assert server.get("contended").text == expected
