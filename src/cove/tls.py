"""Cove's own certificate authority and the certificates it signs.

On first start ``cove server`` creates a CA under ``COVE_HOME/tls`` (its key readable by
the server only) and a server certificate signed by it for the API host, ``localhost``,
the loopback addresses, the apps' domain and the configured public hostnames. The server
certificate is issued again when those names change or it nears its end; the CA is kept
(clients trust it once). Listeners that speak TLS (the API and git endpoint, the router's
HTTPS listener, later the rendezvous listener of ``cove run``) take their context from
``ServerTls``; the add-on servers get certificates of their own from ``issue``.

OpenSSL-based clients (curl, Python, git) refuse a wildcard with a single label after it
(``*.localhost``: OpenSSL wants two dots in the pattern), so when the apps' domain is one
label, an app's name gets a certificate of its own, signed when a client first asks for
it by SNI (only for apps that exist: the caller says which names are apps).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("cove.tls")

CA_DAYS = 20 * 365  # a CA that clients trust once; its key never leaves COVE_HOME
LEAF_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)  # a leaf this close to its end is issued again
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "*"}

Name = str  # a DNS name, a wildcard DNS name, or an IP address


@dataclass(frozen=True)
class TlsFiles:
    """Where Cove keeps its CA and server certificate (``COVE_HOME/tls``)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def cert(self) -> Path:
        """The server certificate followed by the CA's (clients can see what signed it)."""
        return self.root / "server.pem"

    @property
    def key(self) -> Path:
        return self.root / "server-key.pem"

    @property
    def sites(self) -> Path:
        """Certificates of single names (apps under a one-label domain), signed on demand."""
        return self.root / "sites"


def fingerprint(pem: bytes) -> str:
    """SHA-256 of a PEM certificate's DER, as ``AB:CD:...`` (what browsers and openssl show)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write a key: created 0600, replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)  # certificates are public: a local user's CLI may read the CA
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: Name) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _san_names(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in ext.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return names


def ensure_ca(files: TlsFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Cove's CA: loaded, or created on first start."""
    files.root.mkdir(parents=True, exist_ok=True)
    files.root.chmod(0o711)  # the CA certificate is read by name; nothing is listed
    if files.ca_cert.is_file() and files.ca_key.is_file():
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        return cert, _load_key(files.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cove"),
            # Unique per installation: two Coves' CAs are never confused in a trust store.
            x509.NameAttribute(
                NameOID.COMMON_NAME,
                f"Cove CA {socket.gethostname()[:32]} {os.urandom(4).hex()}",
            ),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(files.ca_key, _key_pem(key))
    _write_public(files.ca_cert, _cert_pem(cert))
    log.info("created Cove's certificate authority in %s", files.ca_cert)
    return cert, key


def issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    names: Iterable[Name],
    cert_path: Path,
    key_path: Path | None,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    days: int = LEAF_DAYS,
) -> None:
    """Sign a server certificate for ``names`` (the first is its common name) and write it,
    followed by the CA's, to ``cert_path``; its key (new unless given) to ``key_path``
    (not written when None: a given key is kept where it is)."""
    ca_cert, ca_key = ca
    names = list(dict.fromkeys(names))
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    if key_path is not None:
        _write_private(key_path, _key_pem(key))
    _write_public(cert_path, _cert_pem(cert) + _cert_pem(ca_cert))


def needs_issuing(
    cert_path: Path, key_path: Path, names: Iterable[Name], ca: x509.Certificate
) -> str:
    """Why the certificate at ``cert_path`` must be issued again ("" if it needn't)."""
    if not cert_path.is_file() or not key_path.is_file():
        return "none yet"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by Cove's CA"
    try:
        key = _load_key(key_path)
    except (ValueError, TypeError):
        return "its key can't be read"
    if _spki(cert.public_key()) != _spki(key.public_key()):
        # (per-app certificates use the server's key: a new server key orphans them)
        return "its key changed"
    if _san_names(cert) != set(names):
        return "the names changed"
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return "it is about to expire"
    return ""


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC key")
    return key


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def wildcard_works(domain: str) -> bool:
    """Whether clients accept ``*.<domain>``: OpenSSL (curl, Python, git) wants two dots
    in a wildcard pattern, so ``*.localhost`` matches nothing."""
    return "." in domain.strip(".")


def server_names(api_host: str, domain: str, hostnames: Iterable[str] = ()) -> list[Name]:
    """What Cove's server certificate covers."""
    names: list[Name] = ["localhost", "127.0.0.1", "::1"]
    if api_host not in _WILDCARD_HOSTS:
        names.append(api_host)
    names += [domain, f"*.{domain}"]
    names += [h for h in hostnames if h]
    return list(dict.fromkeys(n.lower() for n in names))


def ensure_server_cert(
    files: TlsFiles, names: Iterable[Name]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA, and a server certificate for ``names`` (issued again if needed)."""
    ca = ensure_ca(files)
    names = list(names)
    why = needs_issuing(files.cert, files.key, names, ca[0])
    if why:
        issue(ca, names, files.cert, files.key)
        log.info("issued Cove's server certificate (%s) for %s", why, ", ".join(names))
    return ca


class ServerTls:
    """The SSL context for Cove's listeners.

    Cove's own certificate answers by default (no SNI, an IP address, the names it
    covers). With an operator's certificate, that one answers the names it covers. Under
    a one-label apps' domain, an app's name gets its own certificate (see the module's
    docstring); ``is_app(name)`` says which names are apps.
    """

    def __init__(
        self,
        files: TlsFiles,
        domain: str,
        *,
        operator: tuple[Path, Path] | None = None,
        is_app: Callable[[str], bool] | None = None,
    ) -> None:
        self.files = files
        self.domain = domain.lower().strip(".")
        self.is_app = is_app
        self._ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._sites: dict[str, ssl.SSLContext] = {}
        self.context = self._new_context(files.cert, files.key)
        self._operator: ssl.SSLContext | None = None
        self._operator_names: set[str] = set()
        if operator is not None:
            cert_path, key_path = operator
            self._operator = self._new_context(cert_path, key_path)
            pem = cert_path.read_bytes()
            self._operator_names = _san_names(x509.load_pem_x509_certificate(pem))
        # Custom domains' uploaded certificates, by SNI name (set by cove.router.sni).
        self.custom: Callable[[str], ssl.SSLContext | None] | None = None
        if self._operator is not None or (is_app is not None and not wildcard_works(domain)):
            self.context.sni_callback = self._pick

    def use_custom(self, lookup: Callable[[str], ssl.SSLContext | None]) -> None:
        """Answer the names ``lookup`` has a context for (custom domains) with it."""
        self.custom = lookup
        self.context.sni_callback = self._pick

    def renew(self, names: Iterable[Name]) -> bool:
        """For a server that runs for months: issue the server certificate again if it
        needs it, and serve the new one from now on. Per-app certificates are looked at
        again at their next use. Returns whether the server certificate changed."""
        before = self.files.cert.read_bytes()
        ensure_server_cert(self.files, names)
        self._sites.clear()
        if self.files.cert.read_bytes() == before:
            return False
        self._key = None  # issued with a new key, which per-app certificates take on
        self.context.load_cert_chain(self.files.cert, self.files.key)
        return True

    @staticmethod
    def new_context(cert: Path, key: Path) -> ssl.SSLContext:
        """A server context as Cove's listeners use (TLS 1.2 or later, HTTP/1.1)."""
        return ServerTls._new_context(cert, key)

    @staticmethod
    def _new_context(cert: Path, key: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def _pick(self, sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if not name:
            return
        name = name.lower().rstrip(".")
        if self.custom is not None:
            custom = self.custom(name)
            if custom is not None:
                sock.context = custom
                return
        if self._operator is not None and _covers(self._operator_names, name):
            sock.context = self._operator
            return
        site = self._sites.get(name)
        if site is None:
            site = self._site(name)
        if site is not None:
            sock.context = site

    def _site(self, name: str) -> ssl.SSLContext | None:
        """A context for one app's name under a one-label domain, signed on first use."""
        label, dot, rest = name.partition(".")
        if not dot or rest != self.domain or wildcard_works(self.domain):
            return None
        if self.is_app is None or not self.is_app(label):
            return None
        try:
            cert, key = self._site_files(name)
            context = self._new_context(cert, key)
        except (OSError, ValueError, ssl.SSLError) as exc:
            log.warning("could not sign a certificate for %s: %s", name, exc)
            return None
        self._sites[name] = context
        return context

    def _site_files(self, name: str) -> tuple[Path, Path]:
        self.files.sites.mkdir(mode=0o700, exist_ok=True)
        cert = self.files.sites / f"{name}.pem"
        if self._ca is None:
            self._ca = ensure_ca(self.files)
        if self._key is None:
            self._key = _load_key(self.files.key)
        if needs_issuing(cert, self.files.key, [name], self._ca[0]):
            # The server's key: one name's certificate is worth no more than the server's.
            issue(self._ca, [name], cert, None, key=self._key)
        return cert, self.files.key


def _covers(names: set[str], host: str) -> bool:
    if host in names:
        return True
    _, dot, parent = host.partition(".")
    return bool(dot) and f"*.{parent}" in names
