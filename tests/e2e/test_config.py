"""Config vars: the seed's config example app reads SECRET_KEY from its environment."""

from __future__ import annotations

import re

from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.python_mirror import system_python


def test_config_set_get_unset_restarts_the_app(user: User, server: CoveServer) -> None:
    # Pinned to the one Python every Debian machine has (any other version is installed
    # from a download source: tests/e2e/test_python_versions.py).
    _, version = system_python()
    major = ".".join(version.split(".")[:2])
    repo = user.new_repo("config-example")
    (repo / ".python-version").write_text(major + "\n")
    user.commit_all(repo, f"Pin Python {major}")
    user.cove("apps:create", "config-seed", cwd=repo)
    push = user.push(repo)
    assert f"Using Python {major} specified in .python-version" in push.stderr
    assert server.get("config-seed").text == "The configured secret key is this-is-the-default-key."

    out = user.cove(
        "config:set",
        "SECRET_KEY=the-staging-key",
        "APP_SETTINGS=config.StagingConfig",
        cwd=repo,
    )
    version = re.search(r"done, v(\d+)", out.stdout + out.stderr)
    assert version, out
    # The change is a new release, and the restarted dyno serves the new value.
    wait_for(
        lambda: server.get("config-seed").text == "The configured secret key is the-staging-key.",
        60,
        what="the restarted dyno to serve the new SECRET_KEY",
    )
    latest = server.api(
        "GET", "/apps/config-seed/releases", headers={"Range": "version ..; order=desc,max=1"}
    ).json()[0]
    assert latest["version"] == int(version.group(1))
    assert "SECRET_KEY" in latest["description"]

    config = user.cove("config", cwd=repo).stdout
    assert re.search(r"APP_SETTINGS:\s+config\.StagingConfig", config)
    assert re.search(r"SECRET_KEY:\s+the-staging-key", config)
    assert user.cove("config:get", "SECRET_KEY", cwd=repo).stdout.strip() == "the-staging-key"

    user.cove("config:unset", "SECRET_KEY", cwd=repo)
    wait_for(
        lambda: (
            server.get("config-seed").text
            == "The configured secret key is this-is-the-default-key."
        ),
        60,
        what="the restarted dyno to serve the default key again",
    )
    assert "SECRET_KEY" not in server.api("GET", "/apps/config-seed/config-vars").json()


def test_invalid_config_keys_are_refused(user: User, server: CoveServer) -> None:
    server.api("POST", "/apps", json={"name": "config-bad"}).raise_for_status()
    for bad in ("1ABC", "MY-KEY", "SPACE KEY"):
        response = server.api("PATCH", "/apps/config-bad/config-vars", json={bad: "x"})
        assert response.status_code == 422
        assert response.json()["id"] == "invalid_params"
        assert bad in response.json()["message"]
    result = user.cove("config:set", "1ABC=x", "-a", "config-bad", check=False)
    assert result.returncode != 0
    assert "1ABC" in result.stderr
    assert server.api("GET", "/apps/config-bad/config-vars").json() == {}
    # No release was created by the refused changes.
    assert len(server.api("GET", "/apps/config-bad/releases").json()) == 1


def test_a_lone_surrogate_in_a_value_is_refused(server: CoveServer) -> None:
    """JSON can escape half a UTF-16 pair (``"\\ud800"``), which no UTF-8 text (the store,
    a process environment) can hold: a 422, not a 500, and nothing is released."""
    server.api("POST", "/apps", json={"name": "config-surrogate"}).raise_for_status()
    for raw in ('{"LONE": "\\ud800"}', '{"LONE": "ok \\udfff then"}'):
        response = server.api(
            "PATCH",
            "/apps/config-surrogate/config-vars",
            content=raw.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["id"] == "invalid_params"
        assert "LONE" in response.json()["message"] and "UTF-8" in response.json()["message"]
    assert server.api("GET", "/apps/config-surrogate/config-vars").json() == {}
    assert len(server.api("GET", "/apps/config-surrogate/releases").json()) == 1
