"""Custom domains: `cove domains:*` and the real Heroku CLI's `domains:add` / `domains`,
the router serving an app at its custom hostnames (exact and wildcard), changed live, and
over HTTPS with the app's own certificates (`certs:add`), chosen by SNI."""

from __future__ import annotations

import ssl
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cove import tls
from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.heroku_cli import HerokuUser, heroku_bin
from tests.e2e.terminal import run_in_terminal

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
    unknown = server.api(
        "PATCH", f"/apps/{OTHER}/domains/api.example.test", json={"sni_endpoint": "ep-1"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["message"] == "sni_endpoint ep-1 is not one of this app's SNI endpoints."
    patched = server.api(
        "PATCH", f"/apps/{OTHER}/domains/api.example.test", json={"sni_endpoint": None}
    ).json()
    assert patched["sni_endpoint"] is None
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


def https_via_router(server: CoveServer, ca: Path, host: str) -> httpx.Response:
    """GET / through the router's HTTPS listener, sending ``host`` by SNI and verifying
    the certificate for it against ``ca`` only."""
    port = urlsplit(server.router_https_url).port
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=context, timeout=30) as client:
        request = client.build_request(
            "GET",
            f"https://127.0.0.1:{port}/",
            headers={"Host": host},
            extensions={"sni_hostname": host},
        )
        return client.send(request)


def served_by_own_certificate(server: CoveServer, ca: Path, host: str) -> bool:
    try:
        answer = https_via_router(server, ca, host)
    except httpx.ConnectError:  # still Cove's certificate: not signed by the test CA
        return False
    return answer.status_code == 200 and answer.json()["headers"]["Host"] == host


def test_custom_domains_over_https_with_their_own_certificate(
    dev: User, server: CoveServer, tmp_path: Path
) -> None:
    theirs = tls.TlsFiles(tmp_path / "their-ca")  # a CA of the test's own, not Cove's
    ca = tls.ensure_ca(theirs)
    crt, key = tmp_path / "site.pem", tmp_path / "site-key.pem"
    tls.issue(ca, ["secure.example.test", "*.securewild.test"], crt, key)
    dev.cove("domains:add", "secure.example.test", "-a", APP)
    dev.cove("domains:add", "*.securewild.test", "-a", APP)
    with pytest.raises(httpx.ConnectError):  # Cove's own certificate until one is added
        https_via_router(server, theirs.ca_cert, "secure.example.test")

    added = dev.cove("certs:add", str(crt), str(key), "-a", APP).stdout
    assert "secure.example.test" in added
    # The key is encrypted in the store (its base64 body never appears) and never logged.
    body = "".join(key.read_text().splitlines()[1:-1]).encode()
    db = server.home / "cove.db"
    wal = db.with_name(db.name + "-wal")
    stored = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert body[:40] not in stored and body[:40] not in server.log_path.read_bytes()
    for host in ("secure.example.test", "shop.securewild.test"):
        wait_for(
            partial(served_by_own_certificate, server, theirs.ca_cert, host),
            30,
            interval=0.1,
            what=f"{host} over HTTPS with its own certificate",
        )
    listing = dev.cove("certs", "-a", APP).stdout
    assert "secure.example.test, *.securewild.test" in listing
    info = dev.cove("certs:info", "-a", APP).stdout
    assert "Domains:" in info and "2" in info.split("Domains:")[1]
    domain = server.api("GET", f"/apps/{APP}/domains/secure.example.test").json()
    endpoint = server.api("GET", f"/apps/{APP}/sni-endpoints").json()[0]
    assert domain["sni_endpoint"]["name"] == endpoint["name"]
    assert "private_key" not in endpoint and "PRIVATE KEY" not in str(endpoint)
    relinked = server.api(
        "PATCH",
        f"/apps/{APP}/domains/secure.example.test",
        json={"sni_endpoint": endpoint["id"]},  # by id: stored by name
    ).json()
    assert relinked["sni_endpoint"]["name"] == endpoint["name"]
    # Cove's own names keep Cove's certificate.
    assert served_by_own_certificate(server, server.ca_file, f"{APP}.{server.info['domain']}")

    refused = dev.cove("certs:remove", "-a", APP, check=False)
    assert refused.returncode != 0 and "--confirm" in refused.stderr
    dev.cove("certs:remove", "-a", APP, "--confirm", APP)
    wait_for(
        lambda: not served_by_own_certificate(server, theirs.ca_cert, "secure.example.test"),
        30,
        interval=0.1,
        what="Cove's own certificate again once the app's is removed",
    )
    with pytest.raises(httpx.ConnectError):  # Cove's certificate doesn't name the domain
        https_via_router(server, server.ca_file, "secure.example.test")
    dev.cove("domains:clear", "-a", APP)


def test_the_heroku_cli_adds_a_certificate_to_the_domains_picked_at_its_prompt(
    dev: User, server: CoveServer, tmp_path: Path
) -> None:
    """`heroku certs:add` lists the app's domains the certificate covers and asks which to
    attach it to: only the one picked moves to it (the other keeps its old certificate)."""
    old_ca, new_ca = tls.TlsFiles(tmp_path / "old-ca"), tls.TlsFiles(tmp_path / "new-ca")
    names = ["swap.example.test", "kept.example.test"]
    old_crt, old_key = tmp_path / "old.pem", tmp_path / "old-key.pem"
    new_crt, new_key = tmp_path / "new.pem", tmp_path / "new-key.pem"
    tls.issue(tls.ensure_ca(old_ca), names, old_crt, old_key)
    tls.issue(tls.ensure_ca(new_ca), names, new_crt, new_key)
    h = HerokuUser.with_token(tmp_path / "h", dev, server.admin_token)
    try:
        for name in names:
            dev.cove("domains:add", name, "-a", APP)
        dev.cove("certs:add", str(old_crt), str(old_key), "-a", APP)
        run = run_in_terminal(
            [str(heroku_bin()), "certs:add", str(new_crt), str(new_key), "-a", APP],
            env=h.env,  # HEROKU_DISABLE_AUTOUPDATE: no `heroku update` left running
            cwd=h.home,
            replies=[("Select domains", b" \r")],  # tick the first choice, submit
        )
        assert run.returncode == 0, run.output
        assert "swap.example.test" in run.output and "kept.example.test" in run.output
        assert "SSL certificate is not trusted." in run.output  # a private CA's
        wait_for(
            partial(served_by_own_certificate, server, new_ca.ca_cert, "swap.example.test"),
            30,
            interval=0.1,
            what="the picked domain over HTTPS with the new certificate",
        )
        assert served_by_own_certificate(server, old_ca.ca_cert, "kept.example.test")

        endpoints = server.api("GET", f"/apps/{APP}/sni-endpoints").json()
        old, new = (e["name"] for e in endpoints)
        listing = h.heroku("certs", "-a", APP).stdout
        rows = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
        assert "swap.example.test, kept.example.test" in rows[new]
        assert rows[old].split()[-1] == "1" and rows[new].split()[-1] == "1"
    finally:
        for endpoint in server.api("GET", f"/apps/{APP}/sni-endpoints").json():
            server.api("DELETE", f"/apps/{APP}/sni-endpoints/{endpoint['id']}")
        dev.cove("domains:clear", "-a", APP)


def test_certs_add_refuses_a_bad_certificate_or_key(
    dev: User, server: CoveServer, tmp_path: Path
) -> None:
    theirs = tls.TlsFiles(tmp_path / "their-ca")
    ca = tls.ensure_ca(theirs)
    crt, key = tmp_path / "a.pem", tmp_path / "a-key.pem"
    other_crt, other_key = tmp_path / "b.pem", tmp_path / "b-key.pem"
    tls.issue(ca, ["a.example.test"], crt, key)
    tls.issue(ca, ["b.example.test"], other_crt, other_key)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    for args, message in [
        ((crt, other_key), "private_key doesn't match the certificate"),
        ((garbage, key), "certificate_chain is not a PEM certificate chain"),
        ((crt, garbage), "private_key is not an unencrypted PEM private key"),
        ((crt, tmp_path / "missing.pem"), "Can't read the private key file"),
    ]:
        result = dev.cove("certs:add", *map(str, args), "-a", APP, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, result.stderr
        assert "BEGIN EC PRIVATE KEY" not in result.stdout + result.stderr
    localhost = tmp_path / "local.pem"
    tls.issue(ca, ["localhost", "127.0.0.1"], localhost, tmp_path / "local-key.pem")
    only_local = dev.cove(
        "certs:add", str(localhost), str(tmp_path / "local-key.pem"), "-a", APP, check=False
    )
    assert only_local.returncode != 0 and "names no domain name" in only_local.stderr
    assert "has no SSL certificates" in dev.cove("certs", "-a", APP).stdout
