"""Which certificate authority the CLI (and git, for Cove remotes) trusts for a Cove API.

A Cove server signs its certificates with its own CA (cove.tls). The CLI trusts, for an
https API URL, the system's CAs plus:

- the CA stored for that server (``~/.config/cove/ca/<host>_<port>.pem``), written by
  ``cove login`` next to the login credentials;
- the CA of a server on this machine: ``$COVE_HOME/tls/ca.pem`` (``~/.cove`` by default),
  which the CLI can read when it runs where the server does.

``cove login`` establishes the trust: a CA given with ``--ca``, the local one, or the
system's CAs (an operator's certificate) when the server's certificate verifies with it;
otherwise it fetches the server's CA (``/ca.pem``) and stores it once its SHA-256
fingerprint is confirmed (a prompt, or ``--ca-fingerprint``), as ssh does for host keys.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import httpx

from cove.cli.output import CliError, warn
from cove.client.trust import client_context, only


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cove"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def stored_ca(url: str) -> Path:
    """Where ``cove login`` keeps the CA of the server at ``url``."""
    _, host, port = _origin(url)
    safe = re.sub(r"[^a-z0-9.-]", "_", host)
    return config_dir() / "ca" / f"{safe}_{port}.pem"


def local_ca() -> Path | None:
    """The CA of a Cove server on this machine (its COVE_HOME), if it is readable."""
    home = Path(os.environ.get("COVE_HOME") or Path.home() / ".cove")
    path = home / "tls" / "ca.pem"
    try:
        return path if path.is_file() and os.access(path, os.R_OK) else None
    except OSError:
        return None


def known_cas(url: str) -> list[Path]:
    """The Cove CAs the CLI trusts for ``url`` (beside the system's)."""
    if _origin(url)[0] != "https":
        return []
    found = [p for p in (stored_ca(url), local_ca()) if p is not None and p.is_file()]
    return list(dict.fromkeys(found))


def ca_for(url: str) -> Path | None:
    """The one CA file to name for ``url`` (git's ``sslCAInfo``, ``cove certs:ca``)."""
    cas = known_cas(url)
    return cas[0] if cas else None


def verify_for(url: str) -> ssl.SSLContext | bool:
    """What the API client verifies the server's certificate with."""
    cas = known_cas(url)
    return _context(tuple((p, p.stat().st_mtime_ns) for p in cas)) if cas else True


@functools.lru_cache(maxsize=8)
def _context(cas: tuple[tuple[Path, int], ...]) -> ssl.SSLContext:
    # One per process for the same CA files (as they are now): reading the system's CAs
    # costs ~45 ms, and `cove run` verifies two connections (the API's, the rendezvous').
    return client_context(*(path for path, _ in cas))


def fingerprint(pem: str) -> str:
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _verifies(url: str, context: ssl.SSLContext) -> bool:
    """Whether the server at ``url`` presents a certificate ``context`` accepts."""
    _, host, port = _origin(url)
    try:
        with (
            socket.create_connection((host, port), timeout=10) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False
    except OSError as exc:
        raise CliError(f"Could not connect to the Cove API at {url}: {exc}") from None


def _store(url: str, pem: str) -> Path:
    path = stored_ca(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(pem)
    tmp.replace(path)
    return path


def _fetch_ca(url: str) -> str:
    """The server's CA as it serves it, over a connection not verified yet: worth only what
    the fingerprint check that follows makes of it."""
    try:
        response = httpx.get(f"{url}/ca.pem", verify=False, timeout=10)
    except httpx.HTTPError as exc:
        raise CliError(f"Could not fetch the server's CA from {url}/ca.pem: {exc}") from None
    pem = response.text
    if response.status_code != 200 or "BEGIN CERTIFICATE" not in pem:
        raise CliError(
            f"The server at {url} has a certificate this machine doesn't trust and serves no "
            "Cove CA. Ask its operator for the CA certificate and pass it with --ca FILE."
        )
    return pem


def establish(url: str, ca: Path | None = None, expected_fingerprint: str | None = None) -> None:
    """Make sure the CLI trusts the server at ``url`` (see the module's docstring)."""
    if _origin(url)[0] != "https":
        return
    stored = stored_ca(url)
    candidates = [p for p in (ca, local_ca()) if p is not None]
    for candidate in candidates:
        try:
            pem = candidate.read_text()
            context = only(candidate)
        except (OSError, ssl.SSLError, ValueError) as exc:
            if candidate == ca:
                raise CliError(f"Could not read the CA certificate {candidate}: {exc}") from None
            continue
        if _verifies(url, context):
            _store(url, pem)
            return
        if candidate == ca:
            raise CliError(f"The server at {url} has a certificate not signed by {ca}.")
    if stored.is_file() and _verifies(url, client_context(stored)):
        return
    if _verifies(url, client_context()):
        return  # a certificate the system trusts (an operator's)
    pem = _fetch_ca(url)
    try:
        seen = fingerprint(pem)
    except ValueError:
        raise CliError(f"The server at {url} serves an unreadable CA certificate.") from None
    wanted = (expected_fingerprint or "").replace(":", "").replace(" ", "").upper()
    if wanted:
        if wanted != seen.replace(":", ""):
            raise CliError(
                f"The server at {url} presents a CA with SHA-256 fingerprint {seen}, not the "
                "one given with --ca-fingerprint. Not trusting it."
            )
    elif sys.stdin.isatty():
        click.echo(f"The server at {url} uses a Cove certificate authority:", err=True)
        click.echo(f"  SHA-256 fingerprint {seen}", err=True)
        click.echo("Compare it with what `cove server` printed when it started.", err=True)
        if not click.confirm("Trust this CA for this server?", default=False, err=True):
            raise CliError("Not trusting the server's CA: not logged in.")
    else:
        raise CliError(
            f"The server at {url} uses a Cove CA this machine doesn't trust yet (SHA-256 "
            f"fingerprint {seen}).\nCompare it with what `cove server` printed, then run "
            "`cove login` in a terminal, or pass --ca-fingerprint or --ca FILE."
        )
    path = _store(url, pem)
    if not _verifies(url, client_context(path)):
        path.unlink(missing_ok=True)
        raise CliError(f"The server at {url} has a certificate its own CA doesn't sign.")


def git_trust(url: str, repo: Path | None = None) -> None:
    """Point git at the server's CA for ``url``'s origin, in the repo's own config (never
    the user's global one): ``http.<origin>/.sslCAInfo``."""
    path = ca_for(url)
    scheme, host, port = _origin(url)
    if scheme != "https" or path is None:
        return
    host = f"[{host}]" if ":" in host else host
    key = f"http.{scheme}://{host}:{port}/.sslCAInfo"
    proc = subprocess.run(
        ["git", "config", "--local", key, str(path)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CliError(f"git config {key} failed: {proc.stderr.strip()}")
    if os.environ.get("GIT_SSL_CAINFO"):
        # git lets the environment override every config file: its pushes would not
        # trust Cove's CA. Say so now rather than at the first push.
        warn(
            f"GIT_SSL_CAINFO is set in your environment and overrides {key}: "
            f"`git push` to {scheme}://{host}:{port} will fail certificate verification. "
            f"Unset it, or point it at a file that also holds Cove's CA ({path})."
        )


def bundle(url: str, ca: Path) -> Path:
    """A file with the system's CAs and Cove's: for tools whose setting replaces the
    system's CAs rather than adding to them (Python's SSL_CERT_FILE, REQUESTS_CA_BUNDLE)."""
    paths = ssl.get_default_verify_paths()
    system = next(
        (Path(p) for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).is_file()), None
    )
    if system is None:
        import certifi

        system = Path(certifi.where())
    out = stored_ca(url).with_name(stored_ca(url).stem + "-bundle.pem")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w") as f:
        f.write(system.read_text().rstrip("\n") + "\n")
        f.write(ca.read_text())
    tmp.replace(out)
    return out
