"""app.json applied on an app's first deploy (config vars given, generated and required,
a Postgres add-on, formation, postdeploy) and never again; a missing required config var,
an invalid manifest and a failing postdeploy script, each reported in the push."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    with running_server(tmp_path_factory.mktemp("app-json")) as srv:
        yield srv


@pytest.fixture(scope="module")
def dev(server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    return User.logged_in(tmp_path_factory.mktemp("dev"), server)


def with_manifest(dev: User, repo: Path, change: dict[str, Any]) -> None:
    """Rewrite the repo's app.json with ``change`` over the example's top-level keys."""
    manifest = json.loads((repo / "app.json").read_text())
    manifest.update(change)
    (repo / "app.json").write_text(json.dumps(manifest))
    dev.commit_all(repo, "app.json")


def releases(server: CoveServer, app: str) -> list[dict[str, Any]]:
    return list(server.api("GET", f"/apps/{app}/releases").json())


def test_first_deploy_applies_app_json_and_later_deploys_do_not(
    dev: User, server: CoveServer
) -> None:
    repo = dev.new_repo("app-json", "setup")
    created = dev.cove("apps:create", "setup", cwd=repo)
    assert "app.json will be applied at the first deploy" in created.stderr
    assert "Required config vars without a value: API_TOKEN." in created.stderr
    dev.cove("config:set", "API_TOKEN=from-config", cwd=repo)

    push = dev.push(repo).stderr
    assert "Config vars set: GREETING, SECRET_KEY" in push  # not API_TOKEN: the app had it
    assert re.search(r"Provisioned postgresql-\S+ \(heroku-postgresql:essential-0\)", push)
    assert "remote: POSTDEPLOY-MARKER database=postgres" in push  # ran with the add-on's URL
    assert "postdeploy script succeeded" in push
    config = server.api("GET", "/apps/setup/config-vars").json()
    assert config["GREETING"] == "hello"
    assert re.fullmatch(r"[0-9a-f]{64}", config["SECRET_KEY"])
    assert config["API_TOKEN"] == "from-config"
    assert config["DATABASE_URL"].startswith("postgres://")
    assert "OPTIONAL_FLAG" not in config

    # The web dyno's environment has all of it; the worker runs (formation worker=1).
    assert server.get("setup", "/").json() == {
        "greeting": "hello",
        "api_token": "from-config",
        "secret_key_length": 64,
        "database_url_scheme": "postgres",
    }
    wait_for(
        lambda: any(
            d["name"] == "worker.1" and d["state"] == "up"
            for d in server.api("GET", "/apps/setup/dynos").json()
        ),
        60,
        what="worker.1 to be up",
    )
    logs = dev.cove("logs", "-n", "1500", "-a", "setup").stdout
    assert re.search(r"app\[postdeploy\.\d{4}\]: POSTDEPLOY-MARKER", logs)
    assert "app[api]: Postdeploy script succeeded" in logs

    # A later deploy applies nothing again: same secret, one add-on, no postdeploy.
    dev.cove("ps:scale", "worker=0", cwd=repo)
    (repo / "worker.py").write_text((repo / "worker.py").read_text() + "\n# changed\n")
    dev.commit_all(repo, "redeploy")
    push = dev.push(repo).stderr
    assert "app.json" not in push and "POSTDEPLOY-MARKER" not in push
    assert server.api("GET", "/apps/setup/config-vars").json()["SECRET_KEY"] == config["SECRET_KEY"]
    assert len(server.api("GET", "/apps/setup/addons").json()) == 1
    assert server.api("GET", "/apps/setup/formation/worker").json()["quantity"] == 0


def test_a_missing_required_config_var_stops_the_deploy(dev: User, server: CoveServer) -> None:
    repo = dev.new_repo("app-json", "unset")
    dev.cove("apps:create", "unset", cwd=repo)
    push = dev.push(repo, check=False)
    assert push.returncode != 0
    assert "app.json requires config vars this app doesn't have: API_TOKEN." in push.stderr
    assert "Push failed" in push.stderr
    # Nothing was applied or released: no config vars, no add-on, no release with a slug.
    assert server.api("GET", "/apps/unset/config-vars").json() == {}
    assert server.api("GET", "/apps/unset/addons").json() == []
    assert not [r for r in releases(server, "unset") if r["slug"]]

    # Once it is set, the same push deploys.
    dev.cove("config:set", "API_TOKEN=now-set", cwd=repo)
    with_manifest(dev, repo, {"addons": [], "scripts": {}})
    dev.push(repo)
    assert server.get("unset", "/").json()["api_token"] == "now-set"


def test_an_invalid_app_json_is_refused_naming_the_field(dev: User, server: CoveServer) -> None:
    repo = dev.new_repo("app-json", "invalid")
    with_manifest(dev, repo, {"formation": {"web": {"quantity": -1}}})
    rule = "app.json: formation.web.quantity must be a non-negative integer"

    created = dev.cove("apps:create", "invalid", cwd=repo, check=False)
    assert created.returncode == 1
    assert rule in created.stderr
    assert server.api("GET", "/apps/invalid").status_code == 404  # not created

    # Pushed anyway (the app made elsewhere), the deploy refuses it before building.
    dev.cove("apps:create", "invalid", "--no-remote", cwd=dev.home)
    dev.cove("git:remote", "-a", "invalid", cwd=repo)
    push = dev.push(repo, check=False)
    assert push.returncode != 0
    assert rule in push.stderr
    assert not [r for r in releases(server, "invalid") if r["slug"]]

    # A buildpack or stack Cove doesn't have is refused too.
    with_manifest(dev, repo, {"formation": {}, "buildpacks": [{"url": "heroku/ruby"}]})
    push = dev.push(repo, check=False)
    assert "app.json: buildpacks[0].url 'heroku/ruby' is not available" in push.stderr
    with_manifest(dev, repo, {"buildpacks": [], "stack": "container"})
    push = dev.push(repo, check=False)
    assert "app.json: stack 'container' is not available" in push.stderr
    # An add-on Cove doesn't offer, and a process type the Procfile doesn't declare.
    with_manifest(dev, repo, {"stack": "heroku-24", "addons": ["heroku-kafka"]})
    push = dev.push(repo, check=False)
    assert "app.json: addons[0]: Couldn't find either the add-on service" in push.stderr
    with_manifest(dev, repo, {"env": {}, "addons": [], "formation": {"clock": {"quantity": 1}}})
    push = dev.push(repo, check=False)
    assert push.returncode != 0
    assert "app.json: formation.clock: this app declares no such process type" in push.stderr
    # Every refusal left the app as it was: no config vars, add-ons or deployed release.
    assert server.api("GET", "/apps/invalid/config-vars").json() == {}
    assert server.api("GET", "/apps/invalid/addons").json() == []
    assert not [r for r in releases(server, "invalid") if r["slug"]]


def test_a_failing_postdeploy_is_reported_and_the_release_stays(
    dev: User, server: CoveServer
) -> None:
    repo = dev.new_repo("app-json", "failing")
    with_manifest(
        dev,
        repo,
        {
            "env": {"GREETING": "hi"},
            "addons": [],
            "formation": {},
            "scripts": {"postdeploy": {"command": "python postdeploy.py 3", "size": "basic"}},
        },
    )
    dev.cove("apps:create", "failing", cwd=repo)
    push = dev.push(repo)  # the release is live: the push is accepted
    assert "remote: POSTDEPLOY-MARKER database=none" in push.stderr
    assert "Warning: the postdeploy script failed (exit status 3); the release is live." in (
        push.stderr
    )
    assert server.get("failing", "/").json()["greeting"] == "hi"
    logs = dev.cove("logs", "-n", "1500", "-a", "failing").stdout
    assert re.search(r"heroku\[postdeploy\.\d{4}\]: Process exited with status 3", logs)
    assert "app[api]: Postdeploy script failed (exit status 3)" in logs
