"""heroku3 (PyPI), the Python client of Heroku's Platform API, driving a real Cove server:
apps, config, releases and rollback, scaling, maintenance, logs and an attached
``run_command`` whose exit status comes back through the rendezvous.

heroku3 has no setting for its API: its module constant ``HEROKU_URL`` is pointed at Cove
before connecting, and its session trusts Cove's CA. Its rendezvous client trusts only the
CA bundle inside the package, so the test points it at Cove's CA too (docs/api.md)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import heroku3
import heroku3.api
import heroku3.models.app
import pytest
import requests

from tests.e2e.harness import CoveServer, User, wait_for

APP = "heroku3-app"
EXIT = re.compile(r"\uffff heroku-command-exit-status: (\d+)")


@pytest.fixture(scope="module")
def conn(server: CoveServer, monkeypatch_module: pytest.MonkeyPatch) -> Any:
    monkeypatch_module.setattr(heroku3.api, "HEROKU_URL", server.api_url)
    session = requests.Session()
    session.verify = str(server.ca_file)
    connection = heroku3.from_key(server.admin_token, session=session)
    assert connection.is_authenticated  # GET /account/rate-limits answered
    return connection


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, server: CoveServer, conn: Any
) -> tuple[Any, User, Path]:
    """An app created with heroku3, then pushed with git (heroku3 has no git)."""
    app = conn.create_app(name=APP)  # heroku3 sends "stack": "cedar" too
    assert app.name == APP
    user = User.logged_in(tmp_path_factory.mktemp("heroku3") / "home", server)
    repo = user.new_repo("one-off", APP)
    user.cove("git:remote", "-a", APP, cwd=repo)
    user.push(repo)
    return conn.app(APP), user, repo


def test_apps_create_list_info(conn: Any, deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    assert APP in [a.name for a in conn.apps()]  # GET /apps with heroku3's `id ..; ;`
    assert conn.app(app.id).name == APP  # by id as by name
    assert app.stack.name == "cove-debian-12" and app.region.name == "local"
    # heroku3 knows Heroku's words for a taken name: creating an app of one's own again
    # answers that app.
    assert conn.create_app(name=APP).id == app.id
    assert conn._last_request_id  # it tracks Request-Id
    assert int(conn._ratelimit_remaining) > 0


def test_config_get_and_update(deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    updated = app.update_config({"GREETING": "from-heroku3", "EMPTY_ME": "x"})
    assert updated.to_dict()["GREETING"] == "from-heroku3"
    app.update_config({"EMPTY_ME": None})
    config = app.config().to_dict()
    assert config["GREETING"] == "from-heroku3" and "EMPTY_ME" not in config


def test_releases_and_rollback(deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    app.update_config({"ROLL": "after"})
    releases = app.releases()  # `version ..; ;`: oldest first
    versions = [r.version for r in releases]
    assert versions == sorted(versions) and len(versions) >= 3
    target = releases[-2]
    newest = app.rollback(target.id)
    assert newest.version == versions[-1] + 1
    assert newest.description == f"Rollback to v{target.version}"
    assert "ROLL" not in app.config().to_dict()


def test_scale_and_dynos(deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    scaled = app.batch_scale_formation_processes({"web": 2})
    assert [(f.type, f.quantity) for f in scaled] == [("web", 2)]

    def two_up() -> bool:
        return sorted(d.name for d in app.dynos() if d.state == "up") == ["web.1", "web.2"]

    wait_for(two_up, 120, what="two web dynos up")
    one = app.scale_formation_process("web", 1)
    assert one.quantity == 1
    assert [(f.type, f.quantity) for f in app.process_formation()] == [("web", 1)]


def test_maintenance_on_and_off(deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    assert app.enable_maintenance_mode().maintenance is True
    assert app.disable_maintenance_mode().maintenance is False  # sends {"maintenance": 0}


def test_get_log(deployed: tuple[Any, User, Path]) -> None:
    app, _, _ = deployed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heroku3 fetches the log with verify=False
        log = app.get_log(lines=200)
    assert "Set GREETING, EMPTY_ME config vars by user" in log
    assert re.search(r"app\[api\]: Scaled to web@2:", log)


def test_run_command_attached(
    deployed: tuple[Any, User, Path], server: CoveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _, _ = deployed
    ca = str(server.ca_file)
    original = heroku3.models.app.Rendezvous.__init__

    def trusting_cove(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.cert = ca  # heroku3 trusts its bundled CAs only

    monkeypatch.setattr(heroku3.models.app.Rendezvous, "__init__", trusting_cove)
    output, dyno = app.run_command("echo run-$GREETING; exit 3", printout=False)
    assert dyno.name.startswith("run.")
    assert "run-from-heroku3" in output
    status = EXIT.search(output)
    assert status is not None and status.group(1) == "3"
