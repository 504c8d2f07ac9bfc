"""Release phase and rollback: a release goes live only if its release command succeeds,
and rolling back restores an earlier release's code and config without rebuilding."""

from __future__ import annotations

import re

from tests.e2e.harness import CoveServer, User, wait_for


def releases(server: CoveServer, app: str) -> list[dict[str, object]]:
    return server.api("GET", f"/apps/{app}/releases").json()  # type: ignore[no-any-return]


def test_release_phase_gates_deploys_and_config_changes(user: User, server: CoveServer) -> None:
    repo = user.new_repo("release-phase")
    user.cove("apps:create", "gated", cwd=repo)
    push = user.push(repo)
    assert "Running release command..." in push.stderr
    assert re.search(r"release command running in release\.\d{4} with GREETING=None", push.stderr)
    assert "Waiting for release.... done." in push.stderr
    assert server.get("gated").text == "hello from release phase app"
    live = releases(server, "gated")[-1]
    assert live["status"] == "succeeded" and live["current"]

    # A config change whose release command fails: the release is marked failed and the
    # dynos keep running the previous release (old config included).
    user.cove("config:set", "GREETING=bonjour", "RELEASE_EXIT=1", cwd=repo)
    wait_for(lambda: releases(server, "gated")[-1]["status"] == "failed", 60, what="release failed")
    failed = releases(server, "gated")[-1]
    assert not failed["current"]
    assert server.get("gated").text == "hello from release phase app"
    listing = user.cove("releases", cwd=repo).stdout
    assert f"v{failed['version']}" in listing and "release command failed" in listing
    logs = user.cove("logs", "-n", "300", cwd=repo).stdout
    assert re.search(r"app\[release\.\d{4}\]: release command running .* GREETING=bonjour", logs)
    assert re.search(r"heroku\[release\.\d{4}\]: Process exited with status 1", logs)

    # A deploy whose release command fails is rejected; the old code keeps serving.
    (repo / "app.py").write_text((repo / "app.py").read_text().replace("from release", "from v2"))
    user.commit_all(repo, "v2")
    rejected = user.push(repo, check=False)
    assert rejected.returncode != 0
    assert "Waiting for release.... failed." in rejected.stderr
    assert "was not deployed" in rejected.stderr
    assert server.get("gated").text == "hello from release phase app"

    # Once the release command succeeds, the change goes live.
    user.cove("config:set", "RELEASE_EXIT=0", cwd=repo)
    wait_for(
        lambda: server.get("gated").text == "bonjour from release phase app",
        60,
        what="the config change to go live once its release command succeeds",
    )
    assert releases(server, "gated")[-1]["status"] == "succeeded"


def test_rollback_restores_code_and_config_without_rebuilding(
    user: User, server: CoveServer
) -> None:
    repo = user.new_repo("release-phase", "rollme")
    user.cove("apps:create", "rollme", cwd=repo)
    user.cove("config:set", "GREETING=one", cwd=repo)
    user.push(repo)
    first = releases(server, "rollme")[-1]
    assert server.get("rollme").text == "one from release phase app"

    (repo / "app.py").write_text((repo / "app.py").read_text().replace("from release", "from v2"))
    user.commit_all(repo, "v2")
    user.push(repo)
    user.cove("config:set", "GREETING=two", cwd=repo)
    wait_for(lambda: server.get("rollme").text == "two from v2 phase app", 60, what="v2 live")
    slugs_before = sorted(p.name for p in (server.home / "slugs").glob("*.tar.zst"))

    out = user.cove("releases:rollback", f"v{first['version']}", cwd=repo)
    assert re.search(r"release command running in release\.\d{4} with GREETING=one", out.stdout)
    wait_for(
        lambda: server.get("rollme").text == "one from release phase app",
        60,
        what="the rolled-back code and config to serve",
    )
    latest = releases(server, "rollme")[-1]
    assert latest["description"] == f"Rollback to v{first['version']}"
    assert latest["slug"] == first["slug"] and latest["current"]
    assert server.api("GET", "/apps/rollme/config-vars").json() == {"GREETING": "one"}
    # Same slug, no build: no new slug was written.
    assert sorted(p.name for p in (server.home / "slugs").glob("*.tar.zst")) == slugs_before

    info = user.cove("releases:info", f"v{latest['version']}", cwd=repo).stdout
    assert f"Rollback to v{first['version']}" in info

    bad = user.cove("releases:rollback", "v999", cwd=repo, check=False)
    assert bad.returncode != 0 and "Couldn't find that release" in bad.stderr
    no_slug = server.api("POST", "/apps/rollme/releases", json={"release": "1"})
    assert no_slug.status_code == 422 and "cannot be rolled back" in no_slug.json()["message"]
