"""The Activity tab's builds and a build's output page: finished builds read from their
log file, a running build's lines live (and its page polls), strangers get 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cove.api import ApiContext, create_api
from cove.logs import LogRouter
from cove.services import accounts, apps
from cove.settings import Settings
from cove.store import Build, Store
from tests.unit.test_dashboard import PASSWORD, cheap_hashes, deployed, log_in

__all__ = ["cheap_hashes"]


@dataclass
class LiveOutput:
    lines: list[str]
    done: bool = False


@dataclass
class Builds:
    """What the pages use of the builder: live outputs and where finished ones are kept."""

    root: Path
    outputs: dict[str, LiveOutput] = field(default_factory=dict)

    def log_path(self, build_id: str) -> Path:
        return self.root / f"{build_id}.log"


@pytest.fixture
def builder(tmp_path: Path) -> Builds:
    (tmp_path / "builds").mkdir()
    return Builds(tmp_path / "builds")


@pytest.fixture
def client(store: Store, tmp_path: Path, builder: Builds) -> TestClient:
    accounts.create_account(store, "a@example.com", PASSWORD)
    accounts.create_account(store, "b@example.com", PASSWORD)
    context = ApiContext(Settings(home=tmp_path), store, LogRouter(), builder, None, None)  # type: ignore[arg-type]
    return TestClient(create_api(context), base_url="https://testserver")


def add_build(store: Store, app_name: str, status: str, release: bool = False) -> str:
    release_id = deployed(store, app_name).id if release else None
    with store.session() as s:
        app = apps.find(s, app_name)
        build = Build(
            app_id=app.id,
            status=status,
            source_url="file:///src.tgz",
            user_id=app.owner_id,
            release_id=release_id,
        )
        s.add(build)
        s.flush()
        return build.id


def test_activity_lists_builds_and_a_finished_builds_output(
    client: TestClient, store: Store, builder: Builds
) -> None:
    log_in(client, "a@example.com")
    apps.create(store, accounts.by_email(store, "a@example.com").id, "built")
    build_id = add_build(store, "built", "succeeded", release=True)
    builder.log_path(build_id).write_text("-----> Python app detected\n<b>escaped</b>\n")

    activity = client.get("/dashboard/apps/built/activity").text
    assert f'data-build="{build_id}"' in activity
    assert "succeeded" in activity and "v1" in activity
    page = client.get(f"/dashboard/apps/built/builds/{build_id}")
    assert page.status_code == 200
    assert "-----&gt; Python app detected" in page.text  # escaped, never markup
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page.text
    assert "hx-trigger" not in page.text  # finished: nothing to poll


def test_a_running_build_shows_its_lines_and_polls(
    client: TestClient, store: Store, builder: Builds
) -> None:
    log_in(client, "a@example.com")
    apps.create(store, accounts.by_email(store, "a@example.com").id, "busy")
    build_id = add_build(store, "busy", "pending")
    builder.outputs[build_id] = LiveOutput(["-----> Building on the Heroku-24 stack"])
    page = client.get(f"/dashboard/apps/busy/builds/{build_id}").text
    assert "Building on the Heroku-24 stack" in page and "hx-trigger" in page
    builder.outputs[build_id].lines.append("-----> Installing requirements")
    fragment = client.get(f"/dashboard/apps/busy/builds/{build_id}/output")
    assert "Installing requirements" in fragment.text
    assert fragment.headers["cache-control"] == "no-store"


def test_strangers_and_unknown_builds_get_404(
    client: TestClient, store: Store, builder: Builds
) -> None:
    apps.create(store, accounts.by_email(store, "a@example.com").id, "private")
    build_id = add_build(store, "private", "succeeded")
    builder.log_path(build_id).write_text("secret build output\n")
    log_in(client, "b@example.com")
    for path in (f"/builds/{build_id}", f"/builds/{build_id}/output"):
        answer = client.get(f"/dashboard/apps/private{path}")
        assert answer.status_code == 404 and "secret build output" not in answer.text
    client.cookies.clear()
    log_in(client, "a@example.com")
    assert client.get("/dashboard/apps/private/builds/no-such-build").status_code == 404
    assert client.get(f"/dashboard/apps/private/builds/{build_id}").status_code == 200
