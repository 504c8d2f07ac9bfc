"""CoveClient against an httpx.MockTransport: headers, errors, Range, streaming, auth."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from cove.client import ACCEPT, ApiConnectionError, ApiError, CoveClient

BASE = "http://api.test:5055"


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], token: str | None = "tok", base: str = BASE
) -> tuple[CoveClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    return CoveClient(base, token, transport=httpx.MockTransport(record)), seen


def test_sends_v3_accept_and_bearer_token() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json={"email": "a@b.c"}))
    assert client.get_account()["email"] == "a@b.c"
    request = seen[0]
    assert request.url == f"{BASE}/account"
    assert request.headers["Accept"] == ACCEPT == "application/vnd.heroku+json; version=3"
    assert request.headers["Authorization"] == "Bearer tok"


def test_no_token_sends_no_authorization() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json=[]), token=None)
    client.list_apps()
    assert "Authorization" not in seen[0].headers


def test_non_2xx_raises_api_error_from_body() -> None:
    client, _ = make_client(
        lambda r: httpx.Response(404, json={"id": "not_found", "message": "Couldn't find app."})
    )
    with pytest.raises(ApiError) as info:
        client.get_app("nope")
    assert (info.value.status, info.value.id, info.value.message) == (
        404,
        "not_found",
        "Couldn't find app.",
    )
    assert str(info.value) == "Couldn't find app."


def test_non_json_error_body_still_raises_api_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(ApiError) as info:
        client.list_apps()
    assert info.value.status == 502
    assert info.value.id == "unknown"
    assert "502" in info.value.message


def test_transport_failure_raises_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client, _ = make_client(refuse)
    with pytest.raises(ApiConnectionError) as info:
        client.list_apps()
    assert "Connection refused" in info.value.reason
    assert info.value.url.startswith(BASE)


def test_list_releases_sends_range_for_newest_first() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json=[{"version": 3}]))
    assert client.list_releases("app", limit=1, descending=True) == [{"version": 3}]
    assert seen[0].headers["Range"] == "version ..; max=1, order=desc"
    client.list_releases("app")
    assert "Range" not in seen[1].headers


def test_update_config_vars_sends_nulls_for_unset() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json={"A": "1"}))
    assert client.update_config_vars("my-app", {"A": "1", "B": None}) == {"A": "1"}
    assert seen[0].method == "PATCH"
    assert seen[0].url.path == "/apps/my-app/config-vars"
    assert json.loads(seen[0].content) == {"A": "1", "B": None}


def test_path_segments_are_quoted() -> None:
    client, seen = make_client(lambda r: httpx.Response(202))
    client.restart_dyno("app", "web.1")
    client.restart_process_type("app", "web")
    client.restart_all_dynos("app")
    assert [(r.method, r.url.path) for r in seen] == [
        ("DELETE", "/apps/app/dynos/web.1"),
        ("DELETE", "/apps/app/formations/web"),
        ("DELETE", "/apps/app/dynos"),
    ]


def test_batch_formation_body() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json=[]))
    client.batch_update_formation("app", [{"type": "web", "quantity": "+1", "size": "std"}])
    assert json.loads(seen[0].content) == {
        "updates": [{"type": "web", "quantity": "+1", "size": "std"}]
    }


def test_stream_log_is_a_generator_without_authorization() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/apps/app/log-sessions":
            return httpx.Response(201, json={"id": "s", "logplex_url": f"{BASE}/log/abc"})
        return httpx.Response(200, text="line one\nline two\n")

    client, seen = make_client(handler)
    session = client.create_log_session("app", lines=5, tail=False, dyno="web.1")
    assert json.loads(seen[0].content) == {"lines": 5, "tail": False, "dyno": "web.1"}
    lines = client.stream_log(session["logplex_url"])
    assert len(seen) == 1  # nothing fetched until iterated
    assert list(lines) == ["line one", "line two"]
    assert "Authorization" not in seen[1].headers
    assert seen[1].headers["Accept"] == "text/plain"


def test_stream_error_raises_api_error_on_iteration() -> None:
    client, _ = make_client(lambda r: httpx.Response(404, json={"id": "not_found", "message": "x"}))
    with pytest.raises(ApiError):
        list(client.stream_build_output(f"{BASE}/builds/1/output"))


def test_create_authorization_uses_basic_auth() -> None:
    client, seen = make_client(
        lambda r: httpx.Response(
            201, json={"id": "1", "access_token": {"token": "t"}, "user": {"email": "e"}}
        ),
        token=None,
    )
    auth = client.create_authorization("me@x.io", "secret", description="cli")
    assert auth["access_token"]["token"] == "t"
    expected = base64.b64encode(b"me@x.io:secret").decode()
    assert seen[0].headers["Authorization"] == f"Basic {expected}"
    assert json.loads(seen[0].content) == {"description": "cli"}


def test_upload_source_sends_token_only_to_the_api_origin() -> None:
    client, seen = make_client(lambda r: httpx.Response(200))
    client.upload_source(f"{BASE}/sources/1/blob", b"tarball")
    client.upload_source("http://blobs.example/put?sig=x", b"tarball")
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert seen[0].content == b"tarball"
    assert "Authorization" not in seen[1].headers


def test_create_build_body() -> None:
    client, seen = make_client(lambda r: httpx.Response(201, json={"id": "b"}))
    client.create_build("app", "http://x/src.tgz", version="abc123")
    assert json.loads(seen[0].content) == {
        "source_blob": {"url": "http://x/src.tgz", "version": "abc123"}
    }
