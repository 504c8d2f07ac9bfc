"""An uploaded certificate chain and private key (`certs:add`): checked before it is kept.

The chain is PEM certificates, the server's first; the key an unencrypted PEM private key
that belongs to that first certificate. What the API shows of it (``ssl_cert``) comes from
the first certificate: its names (subjectAltName DNS names, else the common name), validity,
subject and issuer; whether the chain leads to a root this machine trusts (``ca_signed?``,
"verified by a root authority" in the Heroku CLI).
"""

from __future__ import annotations

import datetime
import functools
import ssl
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from cove.domain import hostnames
from cove.domain.errors import InvalidParams

MAX_PEM = 64 * 1024  # a chain of a few certificates is a few kilobytes


@dataclass(frozen=True)
class CertInfo:
    cert_domains: tuple[str, ...]
    starts_at: datetime.datetime
    expires_at: datetime.datetime
    subject: str
    issuer: str
    self_signed: bool
    ca_signed: bool


def _valid(name: str) -> bool:
    try:
        hostnames.normalize(name)
    except InvalidParams:
        return False
    return True


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names the certificate may serve as a custom domain's (``localhost`` or an IP
    address in it is left out)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys(n.lower().rstrip(".") for n in names if _valid(n)))


@functools.cache
def _system_roots() -> verification.Store | None:
    """The root certificates this machine's OpenSSL trusts (None if it has none)."""
    paths = ssl.get_default_verify_paths()
    for cafile in (paths.cafile, paths.openssl_cafile):
        try:
            with open(cafile or "", "rb") as pem, warnings.catch_warnings():
                # (An old root or two has a serial number RFC 5280 now disallows.)
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                return verification.Store(x509.load_pem_x509_certificates(pem.read()))
        except (OSError, ValueError):
            continue
    return None


def _ca_signed(chain: list[x509.Certificate], names: tuple[str, ...]) -> bool:
    """Does the chain verify, now, for its first name, up to a root this machine trusts?
    (Not the same as "not self-signed": a private CA's certificate is not trusted.)"""
    roots = _system_roots()
    if roots is None or not names:
        return False
    name = "x" + names[0][1:] if names[0].startswith("*.") else names[0]
    verifier = verification.PolicyBuilder().store(roots).build_server_verifier(x509.DNSName(name))
    try:
        verifier.verify(chain[0], chain[1:])
    except (verification.VerificationError, ValueError):
        return False
    return True


def _info(chain: list[x509.Certificate]) -> CertInfo:
    leaf = chain[0]
    names = _names(leaf)
    return CertInfo(
        cert_domains=names,
        starts_at=leaf.not_valid_before_utc,
        expires_at=leaf.not_valid_after_utc,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        self_signed=leaf.issuer == leaf.subject,
        ca_signed=_ca_signed(chain, names),
    )


def check_chain(certificate_chain: str) -> CertInfo:
    """What a stored (already checked) chain says."""
    return _info(x509.load_pem_x509_certificates(certificate_chain.encode()))


def check(certificate_chain: str, private_key: str) -> CertInfo:
    """What the chain says, or InvalidParams naming what is wrong (never the key's text)."""
    if len(certificate_chain) > MAX_PEM or len(private_key) > MAX_PEM:
        raise InvalidParams(f"certificate_chain and private_key are at most {MAX_PEM} bytes.")
    try:
        chain = x509.load_pem_x509_certificates(certificate_chain.encode())
    except ValueError:
        raise InvalidParams(
            "certificate_chain is not a PEM certificate chain (-----BEGIN CERTIFICATE-----)."
        ) from None
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise InvalidParams(
            "private_key is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)."
        ) from None
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise InvalidParams("private_key doesn't match the certificate (the chain's first).")
    names = _names(leaf)
    if not names:
        raise InvalidParams(
            "The certificate names no domain name (its subjectAltName has no DNS name a "
            "custom domain could have)."
        )
    if leaf.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise InvalidParams(f"The certificate expired at {leaf.not_valid_after_utc:%Y-%m-%d}.")
    return _info(chain)


def covers(cert_domains: tuple[str, ...] | list[str], hostname: str) -> bool:
    """Does a certificate with these names serve ``hostname`` (wildcards: one label)?"""
    return any(hostnames.matches(name, hostname) for name in cert_domains)
