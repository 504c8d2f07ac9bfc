"""Cove's CA certificate, public: what a client fetches to trust Cove's certificates
(``cove login`` confirms its fingerprint before trusting it; see cove.cli.trust)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cove.api.routes.common import ctx
from cove.domain.errors import NotFound
from cove.tls import TlsFiles

router = APIRouter()


@router.get("/ca.pem", include_in_schema=False)
def ca_certificate(request: Request) -> Response:
    path = TlsFiles(ctx(request).settings.tls_dir).ca_cert
    if not ctx(request).settings.tls or not path.is_file():
        raise NotFound("This server doesn't use TLS.")
    return Response(path.read_bytes(), media_type="application/x-pem-file")
