"""The files of the site: media types, validators (ETag, Last-Modified), cache policy and an
in-memory cache of small files and their gzip encodings.

Every request stats its file (a few microseconds) and a cached entry is used only while the
file's inode, size and mtime are those it was read with, so a dyno that rewrites a file
serves the new one. A file is opened only after its real path is found inside the root: a
symlink in the build can't expose the rest of the dyno.
"""

from __future__ import annotations

import email.utils
import gzip
import os
import re
import stat
from dataclasses import dataclass, field

# What the web uses; the host's /etc/mime.types is not consulted (it differs by host and
# the dyno's view of it isn't the app's to choose).
MEDIA_TYPES = {
    "html": "text/html", "htm": "text/html", "css": "text/css", "js": "text/javascript",
    "mjs": "text/javascript", "cjs": "text/javascript", "json": "application/json",
    "map": "application/json", "webmanifest": "application/manifest+json",
    "txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "xml": "application/xml",
    "rss": "application/rss+xml", "atom": "application/atom+xml", "svg": "image/svg+xml",
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif", "ico": "image/x-icon", "bmp": "image/bmp",
    "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject", "wasm": "application/wasm",
    "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip",
    "mp4": "video/mp4", "webm": "video/webm", "ogv": "video/ogg", "mp3": "audio/mpeg",
    "ogg": "audio/ogg", "wav": "audio/wav", "m4a": "audio/mp4", "mov": "video/quicktime",
    "yaml": "application/yaml", "yml": "application/yaml", "toml": "application/toml",
    "ics": "text/calendar", "vtt": "text/vtt", "jsonld": "application/ld+json",
}  # fmt: skip
DEFAULT_TYPE = "application/octet-stream"
_CHARSET_TYPES = {
    "application/json", "application/manifest+json", "application/xml", "application/rss+xml",
    "application/atom+xml", "image/svg+xml", "application/ld+json", "application/yaml",
}  # fmt: skip
_COMPRESSIBLE = _CHARSET_TYPES | {"application/wasm", "font/ttf", "font/otf", "image/x-icon"}
GZIP_MIN_SIZE = 512  # as heroku-buildpack-static's nginx: smaller ones don't gain
CACHE_FILE_MAX = 1 << 20  # larger files are sent from disk each time
CACHE_TOTAL_MAX = 64 << 20  # all cached bytes (identity and gzip) of one server process

# Cache-Control when static.json's headers don't set one. A fingerprinted file's name
# changes with its content, so it may be kept for a year; anything else (index.html above
# all) must be revalidated on each use, else a deploy isn't seen until caches expire.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_HEX = re.compile(r"[0-9a-f]{6,}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{8}")


def media_type(name: str, encoding: str) -> str:
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    kind = MEDIA_TYPES.get(ext, DEFAULT_TYPE)
    if kind.startswith("text/") or kind in _CHARSET_TYPES:
        return f"{kind}; charset={encoding}"
    return kind


def known_type(name: str) -> bool:
    return "." in name and name.rpartition(".")[2].lower() in MEDIA_TYPES


def compressible(kind: str) -> bool:
    base = kind.split(";", 1)[0]
    return base.startswith("text/") or base in _COMPRESSIBLE


def _hash_like(token: str) -> bool:
    if _HEX.fullmatch(token):
        # A hex digest has both digits and letters (a date or a version has no letters).
        return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
    if _BASE64URL.fullmatch(token):
        # Rollup/Vite's 8-character base64url hash: a word such as "Settings" or
        # "readme-v2" is not one; a digit, "_" or two capitals in mixed case make it one.
        uppers = sum(c.isupper() for c in token)
        return any(c.isdigit() or c in "_-" for c in token) or (
            uppers >= 2 and any(c.islower() for c in token)
        )
    return False


def fingerprinted(name: str) -> bool:
    """Whether a file name carries a content hash, as bundlers write them:
    ``index-3f2a1b9c.js``, ``index-BkX3_aQz.js``, ``main.3f2a1b9c.chunk.js``."""
    stem, dot, _ext = name.rpartition(".")
    if not dot:
        return False
    for i, c in enumerate(stem):
        if c in ".-":
            token = stem[i + 1 :].split(".", 1)[0]
            if _hash_like(token):
                return True
    return False


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


@dataclass
class Entry:
    """One file as last seen: its validators and (for small files) its bytes."""

    path: str
    key: tuple[int, int, int, int]  # device, inode, size, mtime_ns
    size: int
    content_type: str
    etag: str
    last_modified: str
    mtime: int  # whole seconds, for If-Modified-Since
    cache_control: str
    compressible: bool
    body: bytes | None = None
    gzip_body: bytes | None = None
    # Header lines of a 200, by (gzip, static.json's headers): made once per file version.
    headers: dict[tuple[bool, tuple[tuple[str, str], ...]], bytes] = field(default_factory=dict)


class Files:
    """The site's root directory and the cache of its files."""

    def __init__(self, root: str, encoding: str = "UTF-8") -> None:
        self.root = os.path.realpath(root)
        self.encoding = encoding
        self._entries: dict[str, Entry] = {}
        self.cached_bytes = 0

    def local(self, url_path: str) -> str:
        """The path in the root of a normalized URL path (no "..", see routing)."""
        return self.root + url_path

    def is_dir(self, url_path: str) -> bool:
        if url_path == "/":
            return os.path.isdir(self.root)  # the root is a real path already
        try:
            st = os.stat(self.local(url_path))
        except (OSError, ValueError):
            return False
        return stat.S_ISDIR(st.st_mode) and self._inside(self.local(url_path))

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def lookup(self, url_path: str) -> Entry | None:
        """The regular file at this URL path, or None (missing, a directory, unreadable or
        outside the root)."""
        path = self.local(url_path)
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        entry = self._entries.get(path)
        if entry is not None and entry.key == key:
            return entry
        if not self._inside(path):
            return None
        if entry is not None:
            self._forget(entry)
        entry = self._entry(path, url_path, key)
        if len(self._entries) >= 100_000:  # a crawler walking every route: start over
            for old in list(self._entries.values()):
                self._forget(old)
        self._entries[path] = entry
        return entry

    def _forget(self, entry: Entry) -> None:
        self.cached_bytes -= len(entry.body or b"") + len(entry.gzip_body or b"")
        self._entries.pop(entry.path, None)

    def _entry(self, path: str, url_path: str, key: tuple[int, int, int, int]) -> Entry:
        _dev, ino, size, mtime_ns = key
        name = url_path.rpartition("/")[2]
        kind = media_type(name, self.encoding)
        return Entry(
            path=path,
            key=key,
            size=size,
            content_type=kind,
            etag=f'"{size:x}-{mtime_ns:x}-{ino:x}"',
            last_modified=http_date(mtime_ns / 1e9),
            mtime=mtime_ns // 1_000_000_000,
            cache_control=IMMUTABLE if fingerprinted(name) else REVALIDATE,
            compressible=compressible(kind) and size >= GZIP_MIN_SIZE,
        )

    def body(self, entry: Entry) -> bytes | None:
        """The file's bytes if it is small enough to keep in memory (read now if need be),
        else None: the caller sends it from disk."""
        if entry.body is not None:
            return entry.body
        if entry.size > CACHE_FILE_MAX or self.cached_bytes + entry.size > CACHE_TOTAL_MAX:
            return None
        data = _read(entry.path, entry.size)
        if data is None:
            return None
        entry.body = data
        self.cached_bytes += len(data)
        return data

    def gzip_body(self, entry: Entry) -> bytes | None:
        """The gzip encoding of a cached compressible file (made once), or None."""
        if entry.gzip_body is not None:
            return entry.gzip_body
        if not entry.compressible:
            return None
        data = self.body(entry)
        if data is None:
            return None
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        if len(packed) >= len(data) or self.cached_bytes + len(packed) > CACHE_TOTAL_MAX:
            entry.compressible = False
            return None
        entry.gzip_body = packed
        self.cached_bytes += len(packed)
        return packed


def _read(path: str, size: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
    except OSError:
        return None
    return data if len(data) == size else None  # changed under us: serve it from disk
