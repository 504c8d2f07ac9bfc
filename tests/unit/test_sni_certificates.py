"""Uploaded certificates: what `certs:add` accepts, which names they cover, and the SNI
lookup (exact name first, else a wildcard one label up)."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from cove import tls
from cove.domain import certificates
from cove.domain.errors import InvalidParams
from cove.router.sni import SniCertificates, load_context


def self_signed(names: list[str], days: int = 30) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=60))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_a_good_certificate_is_described() -> None:
    chain, key = self_signed(["www.example.test", "*.Example.Test", "localhost"])
    info = certificates.check(chain, key)
    assert info.cert_domains == ("www.example.test", "*.example.test")  # localhost left out
    assert info.self_signed and "CN=www.example.test" in info.subject


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c, k, o: (c, o), "private_key doesn't match the certificate"),
        (lambda c, k, o: ("junk", k), "certificate_chain is not a PEM certificate chain"),
        (lambda c, k, o: (c, "junk"), "private_key is not an unencrypted PEM private key"),
        (lambda c, k, o: (c + "x" * certificates.MAX_PEM, k), "at most"),
    ],
)
def test_a_bad_certificate_or_key_is_refused_without_quoting_the_key(make, message) -> None:  # type: ignore[no-untyped-def]
    chain, key = self_signed(["www.example.test"])
    _, other = self_signed(["other.example.test"])
    with pytest.raises(InvalidParams) as refused:
        certificates.check(*make(chain, key, other))
    assert message in refused.value.message
    assert "PRIVATE KEY-----\n" not in refused.value.message


def test_an_expired_certificate_is_refused() -> None:
    chain, key = self_signed(["www.example.test"], days=-1)
    with pytest.raises(InvalidParams, match="The certificate expired at"):
        certificates.check(chain, key)


def test_ca_signed_means_a_chain_up_to_a_root_this_machine_trusts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tls.ensure_ca(tls.TlsFiles(tmp_path / "ca"))
    crt, key = tmp_path / "site.pem", tmp_path / "site-key.pem"
    tls.issue(ca, ["*.example.test", "example.test"], crt, key)
    chain = crt.read_text()
    info = certificates.check(chain, key.read_text())
    assert not info.self_signed and not info.ca_signed  # a private CA: not trusted
    self_chain, self_key = self_signed(["www.example.test"])
    assert not certificates.check(self_chain, self_key).ca_signed

    trusting = verification.Store([ca[0]])  # a machine that trusts that CA
    monkeypatch.setattr(certificates, "_system_roots", lambda: trusting)
    assert certificates.check_chain(chain).ca_signed
    assert not certificates.check_chain(self_chain).ca_signed


def test_covers_exact_and_one_label_wildcards() -> None:
    names = ("www.example.test", "*.wild.test")
    assert certificates.covers(names, "www.example.test")
    assert certificates.covers(names, "a.wild.test")
    assert certificates.covers(names, "*.wild.test")  # a wildcard domain
    assert not certificates.covers(names, "a.b.wild.test")
    assert not certificates.covers(names, "api.example.test")


def test_sni_lookup_prefers_the_exact_name(tmp_path: Path) -> None:
    chain, key = self_signed(["www.example.test"])
    exact = load_context(tmp_path, chain, key)
    wild = load_context(tmp_path, chain, key)
    assert list(tmp_path.iterdir()) == []  # the key's temporary file is gone
    table = SniCertificates()
    table.replace({"www.example.test": exact, "*.example.test": wild})
    assert table.lookup("www.example.test") is exact
    assert table.lookup("api.example.test") is wild
    assert table.lookup("a.b.example.test") is None
    assert table.lookup("example.test") is None
    assert isinstance(exact, ssl.SSLContext)
