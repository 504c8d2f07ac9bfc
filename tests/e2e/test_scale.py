"""Formation: scaling web to two dynos, both of which serve requests."""

from __future__ import annotations

import re

from tests.e2e.harness import CoveServer, User, wait_for


def test_scale_web_to_two_dynos_serving(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "scaled")
    user.cove("apps:create", "scaled", cwd=repo)
    user.push(repo)
    user.cove("ps:scale", "web=2", cwd=repo)

    def both_up() -> bool:
        dynos = server.api("GET", "/apps/scaled/dynos").json()
        return sorted(d["name"] for d in dynos if d["state"] == "up") == ["web.1", "web.2"]

    wait_for(both_up, 60, what="web.1 and web.2 up")
    ps = user.cove("ps", cwd=repo).stdout
    assert "web.1: up" in ps and "web.2: up" in ps

    # The router picks a dyno at random: over enough requests, both serve.
    def served_by_both() -> bool:
        for _ in range(20):
            assert server.get("scaled").text == "Hello World!"
        logs = user.cove("logs", "-n", "1500", "-d", "router", cwd=repo).stdout
        served = set(re.findall(r"dyno=(web\.\d) .* status=200", logs))
        return served == {"web.1", "web.2"}

    wait_for(served_by_both, 60, interval=0, what="requests served by web.1 and web.2")

    user.cove("ps:scale", "web=1", cwd=repo)
    wait_for(
        lambda: [d["name"] for d in server.api("GET", "/apps/scaled/dynos").json()] == ["web.1"],
        60,
        what="web.2 stopped",
    )
    formation = server.api("GET", "/apps/scaled/formation").json()
    assert [(f["type"], f["quantity"]) for f in formation] == [("web", 1)]


def test_scale_unknown_process_type_is_an_error(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "scale-bad")
    user.cove("apps:create", "scale-bad", cwd=repo)
    user.push(repo)
    result = user.cove("ps:scale", "worker=1", cwd=repo, check=False)
    assert result.returncode != 0
    assert "worker" in result.stderr
    bad = server.api(
        "PATCH", "/apps/scale-bad/formation", json={"updates": [{"type": "web", "quantity": "x"}]}
    )
    assert bad.status_code == 422 and bad.json()["id"] == "invalid_params"


def test_restart_replaces_the_dynos(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "restarted")
    user.cove("apps:create", "restarted", cwd=repo)
    user.push(repo)
    before = {d["id"] for d in server.api("GET", "/apps/restarted/dynos").json()}
    user.cove("ps:restart", cwd=repo)

    def replaced() -> bool:
        dynos = server.api("GET", "/apps/restarted/dynos").json()
        return bool(dynos) and all(d["id"] not in before and d["state"] == "up" for d in dynos)

    wait_for(replaced, 60, what="web.1 replaced by a new dyno")
    assert server.get("restarted").text == "Hello World!"
