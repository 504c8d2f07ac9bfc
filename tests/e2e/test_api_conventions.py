"""Heroku's wire conventions on a real Cove server: Range paging (206 + Next-Range) on
lists, release version ranges, Request-Id and RateLimit-Remaining on every answer, one
dyno by name, the reference lists, bodies as heroku3 sends them, and renaming an app
(the router, git and the developer's remote follow)."""

from __future__ import annotations

import base64
import socket
import ssl
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, wait_for

APPS = ("conv-a", "conv-b", "conv-c")
WEB = "conv-web"


@pytest.fixture(scope="module")
def made(server: CoveServer) -> None:
    for name in APPS:
        assert server.api("POST", "/apps", json={"name": name}).status_code == 201


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> tuple[User, Path]:
    """A developer with a deployed web app (one web dyno)."""
    user = User.logged_in(tmp_path_factory.mktemp("conventions") / "home", server)
    repo = user.new_repo("one-off", WEB)
    user.cove("apps:create", WEB, cwd=repo)
    user.push(repo)
    return user, repo


def _all_pages(server: CoveServer, path: str, first: str) -> tuple[list[Any], list[int]]:
    items: list[Any] = []
    statuses: list[int] = []
    header: str | None = first
    while header is not None:
        answer = server.api("GET", path, headers={"Range": header})
        statuses.append(answer.status_code)
        items += answer.json()
        header = answer.headers.get("next-range")
        assert (answer.status_code == 206) == (header is not None)
    return items, statuses


def test_lists_page_with_206_and_next_range(server: CoveServer, made: None) -> None:
    names, statuses = _all_pages(server, "/apps", "name ..; max=1")
    assert statuses[:-1] == [206] * (len(statuses) - 1) and statuses[-1] == 200
    assert names == sorted(names, key=lambda a: a["name"])
    assert len({a["id"] for a in names}) == len(names)  # each app once
    assert set(APPS) <= {a["name"] for a in names}
    whole = server.api("GET", "/apps")
    assert whole.status_code == 200 and len(whole.json()) == len(names)
    assert whole.headers["accept-ranges"] == "id, name, created_at, updated_at"


def test_heroku3s_loose_range_and_a_bad_one(server: CoveServer, made: None) -> None:
    loose = server.api("GET", "/apps", headers={"Range": "id ..; ;"})
    assert loose.status_code == 200
    ids = [a["id"] for a in loose.json()]
    assert ids == sorted(ids)
    bad = server.api("GET", "/apps", headers={"Range": "id ..; max=none"})
    assert bad.status_code == 416
    assert bad.json()["id"] == "requested_range_not_satisfiable"
    assert "max" in bad.json()["message"]


def test_release_version_ranges(server: CoveServer, made: None) -> None:
    app = APPS[0]
    for n in range(3):
        server.api("PATCH", f"/apps/{app}/config-vars", json={"N": str(n)})
    path = f"/apps/{app}/releases"
    newest = server.api("GET", path, headers={"Range": "version ..; order=desc,max=1"})
    assert newest.status_code == 206 and [r["version"] for r in newest.json()] == [4]
    assert newest.headers["next-range"] == "version ]4..; max=1, order=desc"
    middle = server.api("GET", path, headers={"Range": "version 2..3"})
    assert middle.status_code == 200 and [r["version"] for r in middle.json()] == [2, 3]
    assert middle.headers["content-range"] == "version 2..3"
    listed, _ = _all_pages(server, path, "version ..; max=2, order=desc")
    assert [r["version"] for r in listed] == [4, 3, 2, 1]


def test_request_id_and_rate_limit_on_every_answer(server: CoveServer) -> None:
    mine = str(uuid.uuid4())
    echoed = server.api("GET", "/account", headers={"Request-Id": mine})
    assert echoed.headers["request-id"] == mine
    made_up = server.api("GET", "/account", headers={"Request-Id": "short"})
    assert uuid.UUID(made_up.headers["request-id"]) and made_up.headers["request-id"] != "short"
    missing = server.api("GET", "/apps/no-such-app")
    refused = httpx.get(
        server.api_url + "/apps", headers={"Authorization": "Bearer nope"}, verify=server.verify
    )
    for answer in (echoed, made_up, missing, refused):
        assert int(answer.headers["ratelimit-remaining"]) > 0
        assert answer.headers["request-id"]
    assert missing.status_code == 404 and refused.status_code == 401
    limits = server.api("GET", "/account/rate-limits").json()
    assert str(limits["remaining"]) == echoed.headers["ratelimit-remaining"]


def test_reference_lists(server: CoveServer, made: None) -> None:
    stacks = server.api("GET", "/stacks").json()
    assert [s["name"] for s in stacks] == ["cove-debian-12"] and stacks[0]["default"]
    assert server.api("GET", f"/stacks/{stacks[0]['id']}").json()["name"] == "cove-debian-12"
    assert server.api("GET", "/stacks/cedar-14").status_code == 404
    regions = server.api("GET", "/regions").json()
    assert [r["name"] for r in regions] == ["local"]
    assert server.api("GET", "/regions/local").json()["id"] == regions[0]["id"]
    assert server.api("GET", "/regions/eu").json()["id"] == "not_found"
    assert server.api("GET", "/account/features").json() == []
    assert server.api("GET", f"/apps/{APPS[0]}/features").json() == []
    assert server.api("GET", f"/apps/{APPS[0]}/features/preboot").status_code == 404
    assert server.api("GET", "/apps/no-such-app/features").status_code == 404


def test_apps_are_created_in_coves_region_only(server: CoveServer) -> None:
    made = server.api("POST", "/apps", json={"name": "conv-region", "region": "local"})
    assert made.status_code == 201 and made.json()["region"]["name"] == "local"
    elsewhere = server.api("POST", "/apps", json={"name": "conv-eu", "region": {"name": "eu"}})
    assert elsewhere.status_code == 422 and "only one is local" in elsewhere.json()["message"]
    assert server.api("GET", "/apps/conv-eu").status_code == 404


def test_maintenance_as_heroku3_sends_it(server: CoveServer, made: None) -> None:
    path = f"/apps/{APPS[1]}"
    assert server.api("PATCH", path, json={"maintenance": 1}).json()["maintenance"] is True
    assert server.api("PATCH", path, json={"maintenance": 0}).json()["maintenance"] is False
    wrong = server.api("PATCH", path, json={"maintenance": 2})
    assert wrong.status_code == 422 and wrong.json()["id"] == "invalid_params"


def test_one_dyno_by_name_or_id(server: CoveServer, dev: tuple[User, Path]) -> None:
    listed = server.api("GET", f"/apps/{WEB}/dynos").json()
    web = next(d for d in listed if d["name"] == "web.1")
    assert server.api("GET", f"/apps/{WEB}/dynos/web.1").json()["id"] == web["id"]
    assert server.api("GET", f"/apps/{WEB}/dynos/{web['id']}").json()["name"] == "web.1"
    missing = server.api("GET", f"/apps/{WEB}/dynos/web.9")
    assert missing.status_code == 404 and missing.json()["id"] == "not_found"


def test_builds_list(server: CoveServer, dev: tuple[User, Path]) -> None:
    builds = server.api("GET", f"/apps/{WEB}/builds")
    assert [b["status"] for b in builds.json()] == ["succeeded"]
    assert builds.json()[0]["user"]["email"]
    newest = server.api(
        "GET", f"/apps/{WEB}/builds", headers={"Range": "created_at ..; max=1, order=desc"}
    )
    assert newest.status_code == 200 and newest.json() == builds.json()


def test_rename_refuses_taken_and_invalid_names(server: CoveServer, made: None) -> None:
    taken = server.api("PATCH", f"/apps/{APPS[2]}", json={"name": APPS[0]})
    assert taken.status_code == 422 and "Name is already taken" in taken.json()["message"]
    invalid = server.api("PATCH", f"/apps/{APPS[2]}", json={"name": "Not_Valid"})
    assert invalid.status_code == 422 and "is invalid" in invalid.json()["message"]
    assert server.api("GET", f"/apps/{APPS[2]}").status_code == 200


def test_no_rename_while_a_push_runs(server: CoveServer, made: None) -> None:
    """A push whose pack is still arriving holds the app's push lock: a rename then is
    409, and works once the pusher is gone (git is ended, the lock freed)."""
    app = APPS[2]
    url = urlsplit(server.api_url)
    secret = base64.b64encode(f"git:{server.admin_token}".encode()).decode()
    context = ssl.create_default_context(cafile=str(server.ca_file))
    raw = socket.create_connection((url.hostname, url.port), timeout=30)
    with context.wrap_socket(raw, server_hostname=url.hostname) as push:
        push.sendall(
            f"POST /{app}.git/git-receive-pack HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Basic {secret}\r\n"
            "Content-Type: application/x-git-receive-pack-request\r\n"
            "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        # The server asks for the pack once git runs, under the app's push lock.
        assert push.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        push.sendall(b"0000")
        refused = server.api("PATCH", f"/apps/{app}", json={"name": "conv-moved"})
        assert refused.status_code == 409 and refused.json()["id"] == "conflict"
        assert "push to conv-c is in progress" in refused.json()["message"]
    wait_for(
        lambda: server.api("PATCH", f"/apps/{app}", json={"name": "conv-moved"}).status_code == 200,
        60,
        what="the rename once the pusher is gone",
    )
    assert server.api("PATCH", "/apps/conv-moved", json={"name": app}).status_code == 200


def test_apps_rename_moves_routes_git_and_the_remote(
    server: CoveServer, dev: tuple[User, Path]
) -> None:
    user, repo = dev
    wait_for(lambda: server.get(WEB).status_code == 200, 60, what="the app to serve")
    done = user.cove("apps:rename", "conv-renamed", cwd=repo)
    assert "Renaming ⬢ conv-web to ⬢ conv-renamed... done" in done.stdout + done.stderr
    assert "Git remote cove updated" in done.stdout
    remote = user.git("remote", "get-url", "cove", cwd=repo).stdout.strip()
    assert remote.endswith("/conv-renamed.git")
    assert server.api("GET", f"/apps/{WEB}").status_code == 404
    wait_for(lambda: server.get("conv-renamed").status_code == 200, 60, what="the new name")
    assert server.get(WEB).status_code == 404  # the old name routes nowhere
    # The repository moved with it: the new name has the pushed history.
    head = user.git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    assert head in user.git("ls-remote", "cove", cwd=repo).stdout
    (repo / "notes.txt").write_text("after the rename\n")
    user.commit_all(repo, "after rename")
    push = user.push(repo)
    assert "Verifying deploy... done." in push.stderr
    log = user.cove("logs", "-n", "200", "-a", "conv-renamed").stdout
    assert "Rename from conv-web to conv-renamed by user" in log
