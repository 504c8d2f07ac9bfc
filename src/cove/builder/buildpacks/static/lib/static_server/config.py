"""static.json: reading it, checking it, and its path patterns.

The keys and their meaning follow heroku-buildpack-static; an unknown key is ignored (as
there), a known key with a value of the wrong kind is an error naming the key, so a typo
fails the build instead of silently serving something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from re import Pattern
from typing import Any

DEFAULT_ROOT = "public_html/"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Keys heroku-buildpack-static has that Cove's server doesn't: refused, never ignored (a
# site meant to be behind a password must not go public, nor API calls quietly 404).
UNSUPPORTED = {
    "proxies": "proxies are not supported: call the API app by its own URL (with CORS)",
    "basic_auth": "basic_auth is not supported: the site would be public",
}
_VARIABLE = re.compile(r"\$\{(\w*?)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers the server owns: a static.json rule can't set them (they'd corrupt the framing).
_RESERVED = {"content-length", "transfer-encoding", "connection", "date", "content-encoding"}


class ConfigError(ValueError):
    """static.json is not what the server can serve; the message names the key."""


def to_regex(pattern: str) -> Pattern[str]:
    """A route/header path pattern: ``**`` is any text, ``*`` any text without ``/``, the
    rest literal; it must match the whole path."""
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        else:
            star = pattern.find("*", i)
            end = len(pattern) if star < 0 else star
            parts.append(re.escape(pattern[i:end]))
            i = end
    return re.compile("".join(parts), re.DOTALL)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``${NAME}`` replaced by the config var's value; unset ones are left as written."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class Redirect:
    url: str
    status: int


@dataclass(frozen=True)
class Route:
    pattern: str
    regex: Pattern[str]
    target: str  # relative to the root; a trailing "/" names a directory (its index.html)


@dataclass(frozen=True)
class HeaderRule:
    pattern: str
    regex: Pattern[str]
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Config:
    root: str = DEFAULT_ROOT
    encoding: str = "UTF-8"
    clean_urls: bool = False
    https_only: bool = False
    canonical_host: str | None = None
    error_page: str | None = None
    access_log: bool = True
    routes: tuple[Route, ...] = ()
    redirects: dict[str, Redirect] = field(default_factory=dict)
    headers: tuple[HeaderRule, ...] = ()

    def route_for(self, path: str) -> Route | None:
        """The first route (in static.json's order) matching the whole path."""
        for route in self.routes:
            if route.regex.fullmatch(path):
                return route
        return None

    def headers_for(self, path: str) -> tuple[tuple[str, str], ...]:
        """The headers of the last rule matching the path: rules don't add up, the last
        definition wins whole (heroku-buildpack-static's precedence)."""
        for rule in reversed(self.headers):
            if rule.regex.fullmatch(path):
                return rule.headers
        return ()


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f'"{key}" must be an object')
    return value


def _string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value is False:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'"{key}" must be a non-empty string')
    return value


def _flag(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f'"{key}" must be true or false')
    return value


def _path_pattern(key: str, pattern: Any) -> str:
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ConfigError(f'"{key}": {pattern!r} must be a path starting with "/"')
    return pattern


def _header_value(key: str, name: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in text):
        raise ConfigError(f'"{key}": the value of {name} has a control character')
    return text


def _relative(path: str, key: str, absolute_ok: bool = False) -> str:
    """A path inside the app (``root``) or the site (routes' targets, ``error_page``,
    where a leading "/" is the site's root), normalized, ending in "/"."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if (path.startswith("/") and not absolute_ok) or ".." in parts:
        raise ConfigError(f'"{key}": {path!r} must be a path inside the app (relative, no "..")')
    return "/".join(parts) + "/" if parts else "./"


def parse(data: Any, env: Mapping[str, str]) -> Config:
    """Config from static.json's decoded JSON; ``env`` are the config vars that
    ``${NAME}`` in redirect URLs and ``canonical_host`` refer to."""
    if not isinstance(data, dict):
        raise ConfigError("static.json must hold a JSON object")
    for key, why in UNSUPPORTED.items():
        if data.get(key):
            raise ConfigError(f'"{key}": {why}')
    root = _relative(_string(data, "root") or DEFAULT_ROOT, "root")
    encoding = _string(data, "encoding") or "UTF-8"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", encoding):
        raise ConfigError('"encoding" must be a character set name such as UTF-8')
    canonical = _string(data, "canonical_host")
    if canonical is not None:
        canonical = interpolate(canonical, env)
        # An unset ${NAME} is checked when the server starts (it may be set by then).
        if "${" not in canonical and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", canonical):
            raise ConfigError(f'"canonical_host" {canonical!r} is not a host name')
    error_page = _string(data, "error_page")
    if error_page is not None:
        error_page = _relative(error_page, "error_page", absolute_ok=True).rstrip("/")
    logging = _mapping(data, "logging")
    routes: list[Route] = []
    for pattern, target in _mapping(data, "routes").items():
        _path_pattern("routes", pattern)
        if not isinstance(target, str) or not target.strip("/"):
            raise ConfigError(f'"routes": the target of {pattern!r} must be a file path')
        clean = _relative(target, "routes", absolute_ok=True)
        if not target.endswith("/"):
            clean = clean.rstrip("/")
        routes.append(Route(pattern, to_regex(pattern), clean))
    redirects: dict[str, Redirect] = {}
    for path, spec in _mapping(data, "redirects").items():
        _path_pattern("redirects", path)
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            raise ConfigError(f'"redirects": {path!r} needs a "url"')
        status = spec.get("status", 301)
        if status not in REDIRECT_STATUSES:
            raise ConfigError(
                f'"redirects": the status of {path!r} must be one of '
                + ", ".join(map(str, REDIRECT_STATUSES))
            )
        url = interpolate(spec["url"], env)
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            raise ConfigError(f'"redirects": the url of {path!r} has spaces or control characters')
        redirects[path] = Redirect(url, status)
    rules: list[HeaderRule] = []
    for pattern, headers in _mapping(data, "headers").items():
        _path_pattern("headers", pattern)
        if not isinstance(headers, dict):
            raise ConfigError(f'"headers": {pattern!r} must map header names to values')
        pairs = []
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ConfigError(f'"headers": {name!r} is not a header name')
            if name.lower() in _RESERVED:
                raise ConfigError(f'"headers": {name} is set by the server')
            pairs.append((name, _header_value("headers", name, value)))
        rules.append(HeaderRule(pattern, to_regex(pattern), tuple(pairs)))
    return Config(
        root=root,
        encoding=encoding,
        clean_urls=_flag(data, "clean_urls"),
        https_only=_flag(data, "https_only"),
        canonical_host=canonical,
        error_page=error_page,
        access_log=_flag(logging, "access", True),
        routes=tuple(routes),
        redirects=redirects,
        headers=tuple(rules),
    )


def load(text: str, env: Mapping[str, str]) -> Config:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"static.json is not valid JSON: {exc}") from None
    return parse(data, env)
