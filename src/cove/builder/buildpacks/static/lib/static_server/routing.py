"""Which answer a request path gets, in heroku-buildpack-static's order: the file itself
(with clean_urls, ``path.html`` first), a directory (its index.html, or a redirect adding
the slash), a custom route's target, a redirect, then 404."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from static_server.config import Config, Route
from static_server.files import Entry, Files, known_type, media_type


@dataclass(frozen=True)
class Decision:
    status: int  # 200, 301..308, 403, 404
    entry: Entry | None = None  # the file to send (also for a custom 404 page)
    location: str = ""


NOT_FOUND = Decision(404)
FORBIDDEN = Decision(403)


def normalize(raw: str) -> str | None:
    """The decoded, normalized path of a request target's path (``%XX`` decoded, repeated
    slashes merged, ``.`` and ``..`` resolved), or None when it can't name a file of the
    site: not absolute, not UTF-8, a NUL byte, or ``..`` above the root."""
    if not raw.startswith("/"):
        return None
    try:
        path = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in path:
        return None
    parts: list[str] = []
    segments = path.split("/")
    for segment in segments[1:]:
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(segment)
    trailing = segments[-1] in ("", ".", "..")
    return "/" + "/".join(parts) + ("/" if trailing and parts else "")


def _is_page(target: str, encoding: str) -> bool:
    return media_type(target.rpartition("/")[2] or "index.html", encoding).startswith("text/html")


def _names_other_file(path: str) -> bool:
    """A last segment such as ``app-3f2a.js`` or ``logo.png``: a request for a file that
    isn't there, which an HTML page must not answer (a browser would run it as a script)."""
    name = path.rpartition("/")[2]
    return known_type(name) and not media_type(name, "UTF-8").startswith("text/html")


class Router:
    def __init__(self, config: Config, files: Files) -> None:
        self.config = config
        self.files = files

    def _directory(self, path: str) -> Decision | None:
        """``/dir/``: its index.html (403 without one, as nginx); None if not a directory."""
        if not self.files.is_dir(path):
            return None
        entry = self.files.lookup(path + "index.html")
        return Decision(200, entry) if entry is not None else FORBIDDEN

    def _target(self, route: Route) -> Decision | None:
        target = "/" + route.target
        if target.endswith("/"):
            return self._directory(target)
        entry = self.files.lookup(target)
        return Decision(200, entry) if entry is not None else None

    def resolve(self, path: str, query: str = "") -> Decision:
        """``path`` as ``normalize`` returns it; ``query`` with its ``?`` (kept by the
        redirect that adds a directory's slash)."""
        cfg = self.config
        if cfg.clean_urls and path.endswith(".html"):
            entry = self.files.lookup(path)
            return Decision(200, entry) if entry is not None else self._not_found()
        route = cfg.route_for(path)
        if path.endswith("/"):
            found = self._directory(path)
            if found is not None:
                return found
        else:
            if cfg.clean_urls:
                entry = self.files.lookup(path + ".html")
                if entry is not None:
                    return Decision(200, entry)
            entry = self.files.lookup(path)
            if entry is not None:
                return Decision(200, entry)
            if (route is None or cfg.clean_urls) and self.files.is_dir(path):
                # The path is decoded: encoded again, it can't break the Location header.
                return Decision(301, location=quote(path + "/", safe="/") + query)
        if (
            route is not None
            and path not in cfg.redirects
            and not (_is_page(route.target, cfg.encoding) and _names_other_file(path))
        ):
            found = self._target(route)
            if found is not None:
                return found
        redirect = cfg.redirects.get(path)
        if redirect is not None:
            return Decision(redirect.status, location=redirect.url)
        return self._not_found()

    def _not_found(self) -> Decision:
        if self.config.error_page is not None:
            entry = self.files.lookup("/" + self.config.error_page)
            if entry is not None:
                return Decision(404, entry)
        return NOT_FOUND
