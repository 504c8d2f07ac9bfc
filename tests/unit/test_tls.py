"""Cove's CA and the certificates it signs (cove.tls)."""

from __future__ import annotations

import datetime
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from cove import tls
from cove.server import _certificate_names
from cove.settings import Settings


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def names_of(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_first_start_creates_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    names = tls.server_names("127.0.0.1", "apps.example.com", ["cove.example.com"])
    ca, _ = tls.ensure_server_cert(files, names)
    for key in (files.ca_key, files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert = load(files.cert)
    cert.verify_directly_issued_by(ca)
    assert names_of(cert) == {
        "localhost",
        "127.0.0.1",
        "::1",
        "apps.example.com",
        "*.apps.example.com",
        "cove.example.com",
    }
    # The chain file ends with the CA's certificate.
    assert files.cert.read_text().endswith(files.ca_cert.read_text())


def test_the_certificate_is_issued_again_only_when_needed(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    names = tls.server_names("127.0.0.1", "localhost")
    tls.ensure_server_cert(files, names)
    first, ca_pem = files.cert.read_bytes(), files.ca_cert.read_bytes()
    tls.ensure_server_cert(files, names)
    assert files.cert.read_bytes() == first  # nothing changed
    tls.ensure_server_cert(files, [*names, "cove.example.com"])
    assert files.cert.read_bytes() != first and "cove.example.com" in names_of(load(files.cert))
    assert files.ca_cert.read_bytes() == ca_pem  # the CA stays: clients trust it
    # Near its end: issued again.
    ca = tls.ensure_ca(files)
    tls.issue(ca, names, files.cert, files.key, days=10)
    assert tls.needs_issuing(files.cert, files.key, names, ca[0]) == "it is about to expire"
    tls.ensure_server_cert(files, names)
    remaining = load(files.cert).not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert remaining > datetime.timedelta(days=300)


def test_a_new_ca_means_a_new_server_certificate(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    names = tls.server_names("127.0.0.1", "localhost")
    tls.ensure_server_cert(files, names)
    files.ca_cert.unlink()
    files.ca_key.unlink()
    ca, _ = tls.ensure_server_cert(files, names)
    load(files.cert).verify_directly_issued_by(ca)


def test_a_running_server_renews_its_certificate(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    names = tls.server_names("127.0.0.1", "localhost")
    ca = tls.ensure_server_cert(files, names)
    tls.issue(ca, names, files.cert, files.key, days=10)  # (as it is months later)
    server = tls.ServerTls(files, "localhost")
    assert server.renew(names) is True
    assert not tls.needs_issuing(files.cert, files.key, names, ca[0])
    assert server.renew(names) is False


def test_wildcards_work_only_under_a_domain_with_a_dot() -> None:
    assert not tls.wildcard_works("localhost")
    assert tls.wildcard_works("apps.example.com") and tls.wildcard_works("lvh.me")


def test_apps_under_a_one_label_domain_get_a_certificate_each(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_server_cert(files, tls.server_names("127.0.0.1", "localhost"))
    server = tls.ServerTls(files, "localhost", is_app=lambda app: app == "shop")
    assert server.context.sni_callback is not None
    assert server._site("shop.localhost") is not None
    site = load(files.sites / "shop.localhost.pem")
    assert names_of(site) == {"shop.localhost"}
    site.verify_directly_issued_by(load(files.ca_cert))
    assert server._site("nope.localhost") is None  # not an app: nothing is signed
    assert server._site("a.b.localhost") is None
    assert not (files.sites / "nope.localhost.pem").exists()
    # A domain with a dot: the wildcard covers the apps, no SNI work at all.
    assert tls.ServerTls(files, "apps.example.com", is_app=bool).context.sni_callback is None


def test_an_operators_certificate_answers_the_names_it_covers(tmp_path: Path) -> None:
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_server_cert(files, tls.server_names("127.0.0.1", "localhost"))
    theirs = tls.TlsFiles(tmp_path / "operator")
    ca = tls.ensure_ca(theirs)
    tls.issue(ca, ["cove.example.com", "*.apps.example.com"], theirs.cert, theirs.key)
    server = tls.ServerTls(files, "localhost", operator=(theirs.cert, theirs.key))
    assert tls._covers(server._operator_names, "cove.example.com")
    assert tls._covers(server._operator_names, "shop.apps.example.com")
    assert not tls._covers(server._operator_names, "a.shop.apps.example.com")
    assert not tls._covers(server._operator_names, "localhost")


def test_fingerprint_matches_the_clis(tmp_path: Path) -> None:
    from cove.cli.trust import fingerprint as cli_fingerprint

    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_ca(files)
    pem = files.ca_cert.read_text()
    assert tls.fingerprint(pem.encode()) == cli_fingerprint(pem)
    assert len(tls.fingerprint(pem.encode()).split(":")) == 32


def test_settings_for_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_HOME", str(tmp_path))
    for name in ("COVE_TLS", "COVE_ROUTER_TRUSTED_PROXIES", "COVE_PUBLIC_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.tls and settings.api_url == "https://127.0.0.1:5055"
    assert settings.web_url("shop") == "https://shop.localhost:5443/"
    assert settings.git_url("shop") == "https://127.0.0.1:5055/shop.git"
    assert replace(settings, router_https_port=443).web_url("shop") == "https://shop.localhost/"
    monkeypatch.setenv("COVE_TLS", "off")
    monkeypatch.setenv("COVE_ROUTER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    plain = Settings.from_env()
    assert plain.api_url == "http://127.0.0.1:5055"
    assert plain.web_url("shop") == "http://shop.localhost:5080/"
    assert plain.router_trusted_proxies == ("10.0.0.0/8", "192.0.2.7")
    monkeypatch.setenv("COVE_TLS", "maybe")
    with pytest.raises(ValueError, match="COVE_TLS must be on or off"):
        Settings.from_env()


def test_the_certificate_names_the_public_hosts(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        api_host="0.0.0.0",
        domain="apps.example.com",
        public_api_url="https://cove.example.com",
        swarm_api_url="https://10.0.0.5:5055",  # where swarm nodes fetch slugs
        tls_hostnames=("git.example.com",),
    )
    names = _certificate_names(settings)
    assert "0.0.0.0" not in names
    assert {"*.apps.example.com", "cove.example.com", "git.example.com", "10.0.0.5"} <= set(names)


def test_per_app_certificates_follow_a_new_server_key(tmp_path: Path) -> None:
    """Per-app certificates carry the server's key: when the server certificate is issued
    again (with a new key), at start or by a running server, they are issued again too."""
    files = tls.TlsFiles(tmp_path / "tls")
    names = tls.server_names("127.0.0.1", "localhost")
    ca = tls.ensure_server_cert(files, names)
    server = tls.ServerTls(files, "localhost", is_app=lambda app: app == "shop")
    assert server._site("shop.localhost") is not None
    site = files.sites / "shop.localhost.pem"
    assert not tls.needs_issuing(site, files.key, ["shop.localhost"], ca[0])
    # At start, with another name: a new server certificate and key.
    tls.ensure_server_cert(files, [*names, "cove.example.com"])
    assert tls.needs_issuing(site, files.key, ["shop.localhost"], ca[0]) == "its key changed"
    restarted = tls.ServerTls(files, "localhost", is_app=lambda app: app == "shop")
    assert restarted._site("shop.localhost") is not None  # (a mismatch fails to load)
    assert not tls.needs_issuing(site, files.key, ["shop.localhost"], ca[0])
    # A running server that renews its certificate takes its new key for the apps' too.
    tls.issue(ca, names, files.cert, files.key, days=10)
    assert restarted.renew(names) is True
    assert restarted._site("shop.localhost") is not None
    assert not tls.needs_issuing(site, files.key, ["shop.localhost"], ca[0])
