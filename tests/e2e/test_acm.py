"""Automated Certificate Management end to end: `cove certs:auto:enable` on an app with a
custom domain gets its certificate from a real ACME server (Pebble, tests/e2e/pebble.py),
whose http-01 challenge is answered by Cove's router on its HTTP port, and the router's
HTTPS listener then serves that domain, by SNI, with a certificate chained to Pebble's
root. The error paths: a directory that can't be reached, an unknown app, no domains; and
the real Heroku CLI's certs:auto commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import pebble
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.heroku_cli import HerokuUser
from tests.e2e.test_domains import https_via_router

APP = "acm-echo"
DOWN = "acm-down"
BARE = "acm-bare"
HEROKU_APP = "acm-heroku"


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> pebble.PebbleSetup:
    why = pebble.ensure_installed()
    if why is not None:
        pytest.skip(f"no Pebble ACME server: {why}")
    return pebble.prepare(tmp_path_factory.mktemp("pebble"))


@pytest.fixture(scope="module")
def acm_server(
    acme: pebble.PebbleSetup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoveServer]:
    """A server whose ACME directory is Pebble's (trusted through its test CA)."""
    with running_server(
        tmp_path_factory.mktemp("acm"),
        COVE_ACME_DIRECTORY_URL=acme.directory_url,
        COVE_ACME_CA_FILE=str(acme.ca_file),
        COVE_ACME_ISSUE_TIMEOUT="60",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def dev(acm_server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    """A developer with a deployed echo app (it answers with the request it saw)."""
    dev = User.logged_in(tmp_path_factory.mktemp("acm-dev") / "home", acm_server)
    repo = dev.new_repo("echo", APP)
    dev.cove("apps:create", APP, cwd=repo)
    dev.push(repo)
    return dev


def acm_row(dev: User, app: str, hostname: str) -> str:
    out = dev.cove("certs:auto", "-a", app).stdout
    return next((line for line in out.splitlines() if line.startswith(hostname)), "")


def test_certs_auto_enable_gets_a_certificate_the_router_serves(
    acme: pebble.PebbleSetup, acm_server: CoveServer, dev: User, tmp_path: Path
) -> None:
    host = "www.acm-shop.test"
    dev.cove("domains:add", host, "-a", APP)
    assert "disabled on acm-echo" in dev.cove("certs:auto", "-a", APP).stdout
    assert acm_server.api("GET", f"/apps/{APP}").json()["acm"] is False
    with pebble.running_pebble(acme, int(acm_server.info["router_port"])) as ca:
        root = tmp_path / "pebble-root.pem"
        root.write_text(ca.root_ca())
        with pytest.raises(httpx.ConnectError):  # Cove's own certificate until then
            https_via_router(acm_server, root, host)

        enabled = dev.cove("certs:auto:enable", "-a", APP)
        assert "Enabling Automatic Certificate Management... done" in enabled.stdout
        assert acm_server.api("GET", f"/apps/{APP}").json()["acm"] is True
        row = wait_for(
            lambda: "Cert issued" in (line := acm_row(dev, APP, host)) and line,
            90,
            interval=0.5,
            what=f"{host}'s certificate to be issued",
        )
        assert "ago" in row  # Last Updated
        status = dev.cove("certs:auto", "-a", APP).stdout
        assert "Automatic Certificate Management is enabled on acm-echo" in status

        answer = wait_for(
            lambda: https_via_router(acm_server, root, host),
            30,
            interval=0.2,
            what=f"the router to present {host}'s ACM certificate",
        )
        assert answer.status_code == 200 and answer.json()["headers"]["Host"] == host

    domain = acm_server.api("GET", f"/apps/{APP}/domains/{host}").json()
    assert domain["acm_status"] == "cert issued" and domain["acm_status_reason"] is None
    [endpoint] = acm_server.api("GET", f"/apps/{APP}/sni-endpoints").json()
    assert endpoint["ssl_cert"]["acm"] is True and endpoint["ssl_cert"]["cert_domains"] == [host]
    assert domain["sni_endpoint"]["name"] == endpoint["name"]
    assert "Pebble" in endpoint["ssl_cert"]["issuer"]
    # The challenge (its token) is in no log: the server's, nor the app's router lines.
    assert b"acme-challenge" not in acm_server.log_path.read_bytes()
    assert "acme-challenge" not in dev.cove("logs", "-n", "1500", "-a", APP).stdout
    account_key = acm_server.home / "acme" / "account-key.pem"
    assert account_key.stat().st_mode & 0o777 == 0o600

    # Disabling removes the certificate: the domain gets Cove's own again.
    dev.cove("certs:auto:disable", "-a", APP, "--confirm", APP)
    assert acm_server.api("GET", f"/apps/{APP}/sni-endpoints").json() == []
    wait_for(
        lambda: _refused(acm_server, root, host),
        30,
        interval=0.2,
        what=f"{host} back on Cove's certificate",
    )


def _refused(server: CoveServer, root: Path, host: str) -> bool:
    try:
        https_via_router(server, root, host)
    except httpx.ConnectError:
        return True
    return False


def test_an_unreachable_directory_fails_with_a_reason(acm_server: CoveServer, dev: User) -> None:
    # Pebble isn't running: its directory's port has no listener.
    host = "down.acm-shop.test"
    dev.cove("apps:create", DOWN)
    dev.cove("domains:add", host, "-a", DOWN)
    dev.cove("certs:auto:enable", "-a", DOWN)
    wait_for(
        lambda: "Failing" in acm_row(dev, DOWN, host),
        60,
        interval=0.5,
        what=f"{host} to be failing",
    )
    status = dev.cove("certs:auto", "-a", DOWN).stdout
    assert "Reason" in status and "can't be reached" in status
    assert "Some domains are failing validation" in status
    domain = acm_server.api("GET", f"/apps/{DOWN}/domains/{host}").json()
    assert domain["acm_status"] == "failing"
    assert "The ACME directory at 127.0.0.1:" in domain["acm_status_reason"]
    assert acm_server.api("GET", f"/apps/{DOWN}/sni-endpoints").json() == []
    # The server carries on: the API and the router still answer.
    assert acm_server.api("GET", f"/apps/{DOWN}").status_code == 200


def test_enable_without_domains_and_on_unknown_apps(acm_server: CoveServer, dev: User) -> None:
    dev.cove("apps:create", BARE)
    dev.cove("certs:auto:enable", "-a", BARE)
    status = dev.cove("certs:auto", "-a", BARE).stdout
    assert "enabled on acm-bare" in status
    assert "Add a custom domain to your app by running: cove domains:add" in status

    unknown = dev.cove("certs:auto:enable", "-a", "no-such-app", check=False)
    assert unknown.returncode != 0 and "Couldn't find that app" in unknown.stderr
    answer = acm_server.api("POST", "/apps/no-such-app/acm")
    assert answer.status_code == 404 and answer.json()["id"] == "not_found"

    dev.cove("certs:auto:disable", "-a", BARE, "--confirm", BARE)
    refresh = acm_server.api("PATCH", f"/apps/{BARE}/acm")
    assert refresh.status_code == 422 and refresh.json()["id"] == "invalid_params"
    assert "not enabled" in refresh.json()["message"]
    refused = dev.cove("certs:auto:refresh", "-a", BARE, check=False)
    assert refused.returncode != 0 and "not enabled" in refused.stderr


def test_the_heroku_cli_drives_acm(acm_server: CoveServer, dev: User, tmp_path: Path) -> None:
    host = "cli.acm-shop.test"
    dev.cove("apps:create", HEROKU_APP)
    dev.cove("domains:add", host, "-a", HEROKU_APP)
    h = HerokuUser.with_token(tmp_path / "h", dev, acm_server.admin_token)
    enabled = h.heroku("certs:auto:enable", "-a", HEROKU_APP)
    assert "Enabling Automatic Certificate Management" in enabled.stdout + enabled.stderr
    # Pebble isn't running here: the domain ends up failing, with the reason shown.
    status = wait_for(
        lambda: "Failing" in (out := h.heroku("certs:auto", "-a", HEROKU_APP).stdout) and out,
        60,
        interval=0.5,
        what=f"heroku certs:auto to show {host} failing",
    )
    assert "Automatic Certificate Management is enabled" in status
    assert host in status and "can't be reached" in status
    h.heroku("certs:auto:refresh", "-a", HEROKU_APP)
    h.heroku("certs:auto:disable", "-a", HEROKU_APP, "--confirm", HEROKU_APP)
    assert acm_server.api("GET", f"/apps/{HEROKU_APP}").json()["acm"] is False
    status = h.heroku("certs:auto", "-a", HEROKU_APP).stdout
    assert "Automatic Certificate Management is disabled" in status
