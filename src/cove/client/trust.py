"""TLS trust for Cove's clients: the usual CAs plus Cove's own (see cove.tls)."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(*ca_files: Path) -> ssl.SSLContext:
    """A client context that trusts the system's CAs (and ``SSL_CERT_FILE``/``_DIR``, as
    OpenSSL reads them) and the certificates in ``ca_files``."""
    context = ssl.create_default_context()
    for path in ca_files:
        context.load_verify_locations(cafile=str(path))
    return context


def only(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca_file`` alone: without the system's CAs, whose
    reading costs ~45 ms."""
    return ssl.create_default_context(cafile=str(ca_file))
