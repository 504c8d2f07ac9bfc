"""A local download source for Python installs: no network in tests.

Cove installs missing Python versions with ``uv python install``, whose downloads are
python-build-standalone (PBS) release archives: ``<mirror>/<release>/<file>``, checked
against a list of downloads (uv's own, or one served as JSON). No registry this project
can reach (PyPI, Debian, npm) ships PBS archives, and a Debian machine has one CPython of
its own, so the archive is made here from that one: the system's ``/usr/bin/python3.X`` and
its standard library, laid out as PBS's ``install_only`` archives are (``python/bin``,
``python/lib/python3.X``). It is a real CPython of that version: an app built on it reports
exactly that ``sys.version``. The mirror serves it with a downloads list naming its checksum
(uv checks it), and counts the archive's downloads.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

# Not a real PBS release: marks the archive as made here.
RELEASE = "20990101"
# The prefix uv replaces with its --mirror (COVE_PYTHON_INSTALL_MIRROR).
PBS_DOWNLOADS = "https://github.com/astral-sh/python-build-standalone/releases/download"
_SKIP = {"__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo", "site-packages"}
_SKIP |= {"dist-packages", "EXTERNALLY-MANAGED"}


@dataclass(frozen=True)
class Archive:
    version: str  # "3.11.2"
    path: Path
    sha256: str

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def filename(self) -> str:
        return self.path.name

    def entry(self) -> dict[str, object]:
        """Its row in a downloads list (uv's download-metadata.json format)."""
        major, minor, patch = (int(p) for p in self.version.split("."))
        return {
            "name": "cpython",
            "arch": {"family": "x86_64", "variant": None},
            "os": "linux",
            "libc": "gnu",
            "major": major,
            "minor": minor,
            "patch": patch,
            "prerelease": "",
            "url": f"{PBS_DOWNLOADS}/{RELEASE}/{quote(self.filename)}",
            "sha256": self.sha256,
            "variant": None,
        }


def system_python() -> tuple[Path, str]:
    """The host's /usr/bin/python3.X (with its standard library) and its full version."""
    for exe in sorted(Path("/usr/bin").glob("python3.*"), reverse=True):
        match = re.fullmatch(r"python(3\.\d+)", exe.name)
        if match and Path(f"/usr/lib/python{match[1]}/os.py").is_file():
            version = subprocess.run(
                [str(exe), "-c", "import platform; print(platform.python_version())"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            return exe, version
    pytest.skip("no /usr/bin/python3.X with its standard library in /usr/lib")


def build_archive(work: Path) -> Archive:
    """The system's Python as a PBS ``install_only`` archive (gzip level 1: ~7 MB, ~3 s)."""
    exe, version = system_python()
    major = ".".join(version.split(".")[:2])
    root = work / "python"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(exe, root / "bin" / exe.name)
    for alias in ("python3", "python"):
        (root / "bin" / alias).symlink_to(exe.name)
    # Symlinks are followed: uv refuses archives with links that leave them.
    shutil.copytree(
        f"/usr/lib/python{major}",
        root / "lib" / f"python{major}",
        ignore=lambda _d, names: [n for n in names if n in _SKIP or n.endswith(".a")],
        ignore_dangling_symlinks=True,
    )
    machine = "x86_64-unknown-linux-gnu"
    path = work / f"cpython-{version}+{RELEASE}-{machine}-install_only.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(root, arcname="python")
    shutil.rmtree(root)
    return Archive(version, path, hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass
class Mirror:
    """Serves ``/downloads.json`` and ``/<release>/<file>`` on 127.0.0.1."""

    archive: Archive
    url: str = ""
    downloads: list[str] = field(default_factory=list)  # archive paths fetched, in order

    def listing(self) -> dict[str, object]:
        return {f"cpython-{self.archive.version}-linux-x86_64-gnu": self.archive.entry()}

    def settings(self) -> dict[str, str]:
        """The cove server settings that make it download from here."""
        return {
            "COVE_PYTHON_DOWNLOADS": "automatic",
            "COVE_PYTHON_INSTALL_MIRROR": self.url,
            "COVE_PYTHON_DOWNLOADS_JSON_URL": f"{self.url}/downloads.json",
        }


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            if path == "/downloads.json":
                self._send(json.dumps(mirror.listing()).encode(), "application/json")
            elif path == f"/{RELEASE}/{mirror.archive.filename}":
                mirror.downloads.append(path)
                self._send(mirror.archive.path.read_bytes(), "application/gzip")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class serve:
    def __init__(self, archive: Archive) -> None:
        self.mirror = Mirror(archive)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.mirror))
        self.mirror.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self.mirror

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_archives: dict[str, Archive] = {}


def session_archive(factory: pytest.TempPathFactory) -> Archive:
    """One archive per test session, whichever test module asks first."""
    if "system" not in _archives:
        _archives["system"] = build_archive(factory.mktemp("python-mirror"))
    return _archives["system"]
