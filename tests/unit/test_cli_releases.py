"""releases (Range header, layout, status suffixes), releases:info, releases:rollback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState
from cove.cli.main import cli
from tests.unit.cli_env import cli_in_utc

WHEN = "2020-04-05T17:44:47Z"
STAMP = "2020/04/05 17:44:47 +0000"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_in_utc(monkeypatch, tmp_path):
        yield


def release(version: int, description: str, status: str = "succeeded", **kw: Any) -> Any:
    return {
        "id": f"rel-{version}",
        "version": version,
        "description": description,
        "status": status,
        "current": kw.get("current", False),
        "user": {"id": "u", "email": "dev@example.com"},
        "created_at": WHEN,
        "addon_plan_names": [],
        "output_stream_url": kw.get("output_stream_url"),
    }


RELEASES = [  # oldest first, as the API stores them
    release(1, "Initial release"),
    release(2, "Deploy 1a2b3c4d"),
    release(3, "Set FOO config vars", status="failed"),
    release(4, "Deploy 5e6f7a8b", status="pending", current=True),
]


class FakeReleasesApi:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.releases = list(RELEASES)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path == "/apps/app1/releases" and method == "GET":
            rng = request.headers.get("Range", "")
            items = list(self.releases)
            if "order=desc" in rng:
                items.reverse()
            if "max=" in rng:
                items = items[: int(rng.split("max=")[1].split(",")[0])]
            return httpx.Response(200, json=items)
        if path == "/apps/app1/releases" and method == "POST":
            target = json.loads(request.content)["release"]
            new = release(len(self.releases) + 1, f"Rollback to {target}", current=True)
            self.releases.append(new)
            return httpx.Response(201, json=new)
        if path.startswith("/apps/app1/releases/"):
            version = int(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=self.releases[version - 1])
        return httpx.Response(404, json={"id": "not_found", "message": "nope"})

    def run(self, args: list[str]) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, [*args, "-a", "app1"], obj=state)


def test_releases_sends_range_and_prints_newest_first() -> None:
    api = FakeReleasesApi()
    result = api.run(["releases"])
    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["Range"] == "version ..; max=15, order=desc"
    assert result.stdout.splitlines() == [
        "=== ⬢ app1 Releases - Current: v4",
        "",
        f"v4  Deploy 5e6f7a8b release command executing   dev@example.com  {STAMP}",
        f"v3  Set FOO config vars release command failed  dev@example.com  {STAMP}",
        f"v2  Deploy 1a2b3c4d                             dev@example.com  {STAMP}",
        f"v1  Initial release                             dev@example.com  {STAMP}",
    ]


def test_releases_num_sets_max() -> None:
    api = FakeReleasesApi()
    result = api.run(["releases", "-n", "2"])
    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["Range"] == "version ..; max=2, order=desc"
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == ["v4", "v3"]


def test_releases_info_by_version() -> None:
    api = FakeReleasesApi()
    result = api.run(["releases:info", "v2"])
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == "/apps/app1/releases/2"
    assert result.stdout.splitlines() == [
        "=== Release v2",
        "",
        "Version: v2",
        "By:      dev@example.com",
        "Change:  Deploy 1a2b3c4d",
        f"When:    {STAMP}",
        "Status:  succeeded",
    ]


def test_releases_info_defaults_to_latest() -> None:
    api = FakeReleasesApi()
    result = api.run(["releases:info"])
    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["Range"] == "version ..; max=1, order=desc"
    assert result.stdout.startswith("=== Release v4\n")


def test_rollback_defaults_to_previous_succeeded_release() -> None:
    api = FakeReleasesApi()
    api.releases[3]["status"] = "succeeded"
    result = api.run(["releases:rollback"])
    assert result.exit_code == 0, result.output
    post = api.requests[-1]
    assert post.method == "POST"
    assert json.loads(post.content) == {"release": "rel-2"}  # v3 failed, so v2
    assert result.stdout == "Rolling back ⬢ app1 to v2... done, v5\n"
    assert "To undo, run: cove rollback v4" in result.stderr


def test_rollback_to_explicit_version() -> None:
    api = FakeReleasesApi()
    result = api.run(["rollback", "v1"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[-1].content) == {"release": "rel-1"}
