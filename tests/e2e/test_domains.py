"""Custom domains: `cove domains:*` and the real Heroku CLI's `domains:add` / `domains`,
and the router serving an app at its custom hostnames (exact and wildcard), changed live."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.heroku_cli import HerokuUser

APP = "domained"
OTHER = "domained-other"


@pytest.fixture(scope="module")
def dev(server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    """A developer with a deployed echo app (it answers with the request it saw)."""
    dev = User.logged_in(tmp_path_factory.mktemp("domains") / "home", server)
    repo = dev.new_repo("echo", APP)
    dev.cove("apps:create", APP, cwd=repo)
    dev.push(repo)
    dev.cove("apps:create", OTHER)
    return dev


def via_router(server: CoveServer, host: str, path: str = "/") -> httpx.Response:
    return httpx.get(server.router_url + path, headers={"Host": host}, timeout=30)


def serves(server: CoveServer, host: str) -> bool:
    """Does the router hand requests for ``host`` to the echo app?"""
    answer = via_router(server, host)
    return answer.status_code == 200 and answer.json()["headers"]["Host"] == host


def wait_until_served(server: CoveServer, host: str) -> None:
    wait_for(lambda: serves(server, host), 30, interval=0.1, what=f"{host} routed to the app")


def wait_until_no_such_app(server: CoveServer, host: str) -> None:
    wait_for(
        lambda: via_router(server, host).status_code == 404,
        30,
        interval=0.1,
        what=f"{host} answered with the no-such-app page",
    )


def test_added_domain_is_routed_until_removed(dev: User, server: CoveServer) -> None:
    assert via_router(server, "www.example.test").status_code == 404
    added = dev.cove("domains:add", "WWW.Example.Test", "-a", APP).stdout
    assert "Added www.example.test" in added
    assert f"{APP}.{server.info['domain']}" in added  # the DNS target
    wait_until_served(server, "www.example.test")
    assert via_router(server, "www.example.test:443").status_code == 200  # port ignored

    listing = dev.cove("domains", "-a", APP).stdout
    assert f"{APP}.{server.info['domain']}" in listing.split("Custom Domains")[0]
    assert "Domain Name" in listing and "DNS Record Type" in listing and "DNS Target" in listing
    row = next(line for line in listing.splitlines() if line.startswith("www.example.test"))
    assert row.split()[1:] == ["CNAME", f"{APP}.{server.info['domain']}"]

    info = dev.cove("domains:info", "www.example.test", "-a", APP).stdout
    assert "custom" in info and "succeeded" in info
    assert "is ready (succeeded)" in dev.cove("domains:wait", "www.example.test", "-a", APP).stdout

    dev.cove("domains:remove", "www.example.test", "-a", APP)
    wait_until_no_such_app(server, "www.example.test")
    assert "No such app" in via_router(server, "www.example.test").text
    gone = dev.cove("domains:info", "www.example.test", "-a", APP, check=False)
    assert gone.returncode != 0 and "Couldn't find that domain" in gone.stderr


def test_wildcard_domain_matches_one_label(dev: User, server: CoveServer) -> None:
    dev.cove("domains:add", "*.wild.test", "-a", APP)
    wait_until_served(server, "shop.wild.test")
    assert serves(server, "api.wild.test")
    assert via_router(server, "wild.test").status_code == 404
    assert via_router(server, "a.b.wild.test").status_code == 404
    dev.cove("domains:add", "exact.wild.test", "-a", APP)
    dev.cove("domains:clear", "-a", APP)
    wait_until_no_such_app(server, "shop.wild.test")
    body = server.api("GET", f"/apps/{APP}/domains").json()
    assert [d["kind"] for d in body] == ["heroku"]


def test_maintenance_applies_to_custom_domains(dev: User, server: CoveServer) -> None:
    dev.cove("domains:add", "maint.example.test", "-a", APP)
    wait_until_served(server, "maint.example.test")
    dev.cove("maintenance:on", "-a", APP)
    try:
        wait_for(
            lambda: via_router(server, "maint.example.test").status_code == 503,
            30,
            interval=0.1,
            what="maintenance on the custom domain",
        )
    finally:
        dev.cove("maintenance:off", "-a", APP)
    wait_until_served(server, "maint.example.test")
    dev.cove("domains:remove", "maint.example.test", "-a", APP)


def test_a_taken_or_invalid_hostname_is_refused(dev: User, server: CoveServer) -> None:
    dev.cove("domains:add", "taken.example.test", "-a", APP)
    again = dev.cove("domains:add", "taken.example.test", "-a", OTHER, check=False)
    assert again.returncode != 0 and "taken.example.test is already taken" in again.stderr
    same_app = server.api("POST", f"/apps/{APP}/domains", json={"hostname": "Taken.Example.Test."})
    assert same_app.status_code == 422 and same_app.json()["id"] == "invalid_params"

    for hostname, message in [
        ("bad_name.example.test", "letters, digits and hyphens"),
        ("localhost", "at least two labels"),
        ("www.*.example.test", "wildcard only as its first label"),
        (f"{OTHER}.{server.info['domain']}", "under Cove's own domain"),
    ]:
        answer = server.api("POST", f"/apps/{APP}/domains", json={"hostname": hostname})
        assert answer.status_code == 422, hostname
        assert message in answer.json()["message"], hostname
    missing = server.api("POST", f"/apps/{APP}/domains", json={})
    assert missing.status_code == 422 and missing.json()["message"] == "hostname is required."

    default = f"{APP}.{server.info['domain']}"
    kept = server.api("DELETE", f"/apps/{APP}/domains/{default}")
    assert kept.status_code == 422 and "default domain" in kept.json()["message"]
    assert server.api("GET", f"/apps/{APP}/domains/nope.example.test").status_code == 404
    dev.cove("domains:remove", "taken.example.test", "-a", APP)


def test_domain_api_shapes_and_patch(server: CoveServer) -> None:
    made = server.api("POST", f"/apps/{OTHER}/domains", json={"hostname": "api.example.test"})
    assert made.status_code == 201
    domain = made.json()
    assert domain["kind"] == "custom" and domain["status"] == "succeeded"
    assert domain["cname"] == f"{OTHER}.{server.info['domain']}"
    assert domain["sni_endpoint"] is None and domain["app"]["name"] == OTHER
    by_id = server.api("GET", f"/apps/{OTHER}/domains/{domain['id']}").json()
    assert by_id["hostname"] == "api.example.test"
    patched = server.api(
        "PATCH", f"/apps/{OTHER}/domains/api.example.test", json={"sni_endpoint": "ep-1"}
    ).json()
    assert patched["sni_endpoint"] == {"id": "ep-1", "name": "ep-1"}
    server.api("DELETE", f"/apps/{OTHER}/domains/{domain['id']}").raise_for_status()


def test_the_heroku_cli_adds_and_lists_domains(
    dev: User, server: CoveServer, tmp_path: Path
) -> None:
    h = HerokuUser.with_token(tmp_path / "h", dev, server.admin_token)
    added = h.heroku("domains:add", "cli.example.test", "-a", APP)
    assert f"{APP}.{server.info['domain']}" in added.stdout + added.stderr
    wait_until_served(server, "cli.example.test")
    listing = h.heroku("domains", "-a", APP).stdout
    assert "cli.example.test" in listing and f"{APP}.{server.info['domain']}" in listing
    h.heroku("domains:remove", "cli.example.test", "-a", APP)
    wait_until_no_such_app(server, "cli.example.test")
