"""The dashboard's static files (its stylesheet, htmx), served from the package itself.

Each is served under a name that carries the first 12 hex digits of its SHA-256
(``cove.3f9a1c2b7d4e.css``), so it can be cached for a year: a changed file is a new URL.
Nothing is loaded from another site."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    url_name: str
    body: bytes
    media_type: str


class Assets:
    def __init__(self, prefix: str, directory: Path = STATIC) -> None:
        self.prefix = prefix  # the URL path they are served under
        self._by_name: dict[str, Asset] = {}
        self._by_url: dict[str, Asset] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in _TYPES:
                continue  # (licences and notes stay in the package, unserved)
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            asset = Asset(f"{path.stem}.{digest}{path.suffix}", body, _TYPES[path.suffix])
            self._by_name[path.name] = asset
            self._by_url[asset.url_name] = asset

    def url(self, name: str) -> str:
        return f"{self.prefix}/{self._by_name[name].url_name}"

    async def serve(self, request: Request) -> Response:
        asset = self._by_url.get(request.path_params["name"])
        if asset is None:
            return PlainTextResponse("Not found.", status_code=404)
        return Response(
            asset.body,
            media_type=asset.media_type,
            headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
        )
