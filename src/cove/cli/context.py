"""Where the CLI gets its API URL, token and app from.

- API URL: `COVE_API_URL` (default `https://127.0.0.1:5055`).
- TLS trust: the system's CAs and Cove's CA for that server (`cove.cli.trust`).
- Token: `COVE_API_KEY`, else `~/.netrc` `machine <host:port>`, else `machine <host>`.
- App: `-a/--app`, `-r/--remote`, `COVE_APP`, else the cwd repo's git remotes.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from cove.cli import trust
from cove.cli.output import CliError
from cove.client import CoveClient

DEFAULT_API_URL = "https://127.0.0.1:5055"
NOT_LOGGED_IN = "Not logged in. Run `cove login`."
NO_APP = "No app specified. Use --app NAME."
USER_AGENT = "cove-cli/0.1"


# -- API URL --------------------------------------------------------------------------------


def api_url() -> str:
    return (os.environ.get("COVE_API_URL") or DEFAULT_API_URL).rstrip("/")


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


def host_and_port(url: str) -> tuple[str, int | None]:
    """The hostname and effective port of `url` (default ports filled in)."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or _default_port(parts.scheme)


def netrc_machines(url: str) -> list[str]:
    """netrc machine names for the API: `host:port` (as the Heroku CLI), then `host` (for git)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        return [f"{host}:{parts.port}", host]
    return [host]


# -- ~/.netrc -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetrcEntry:
    machine: str
    login: str | None
    password: str | None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s]+')
_TOP_LEVEL = {"machine", "default", "macdef"}


def netrc_path() -> Path:
    return Path.home() / ".netrc"


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _netrc_blocks(text: str) -> list[tuple[int, int, list[str]]]:
    """Split netrc text into top-level blocks: (start, end, tokens) for each entry."""
    blocks: list[tuple[int, int, list[str]]] = []
    pos = 0
    current: tuple[int, list[str]] | None = None
    while pos < len(text):
        if text[pos] == "#" and (pos == 0 or text[pos - 1] in " \t\n"):
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline + 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            pos += 1
            continue
        token = match.group(0)
        if token in _TOP_LEVEL:
            if current is not None:
                blocks.append((current[0], match.start(), current[1]))
            current = (match.start(), [token])
            pos = match.end()
            if token == "macdef":
                # `macdef NAME` then the macro body, up to the next empty line.
                end_of_line = text.find("\n", pos)
                end_of_line = len(text) if end_of_line < 0 else end_of_line
                current[1].append(text[pos:end_of_line].strip())
                end_of_body = text.find("\n\n", end_of_line)
                pos = len(text) if end_of_body < 0 else end_of_body + 2
            continue
        if current is not None:
            current[1].append(_unquote(token))
        pos = match.end()
    if current is not None:
        blocks.append((current[0], len(text), current[1]))
    return blocks


def _entry_from_tokens(tokens: list[str]) -> NetrcEntry | None:
    if len(tokens) < 2 or tokens[0] != "machine":
        return None
    values: dict[str, str] = {}
    rest = tokens[2:]
    for key, value in zip(rest[0::2], rest[1::2], strict=False):
        values.setdefault(key, value)
    return NetrcEntry(tokens[1], values.get("login"), values.get("password"))


def read_netrc(path: Path | None = None) -> dict[str, NetrcEntry]:
    """The `machine` entries of a netrc file (the first entry wins for a repeated machine)."""
    path = path or netrc_path()
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    entries: dict[str, NetrcEntry] = {}
    for _, _, tokens in _netrc_blocks(text):
        entry = _entry_from_tokens(tokens)
        if entry is not None:
            entries.setdefault(entry.machine, entry)
    return entries


def _without_machines(text: str, machines: Iterable[str]) -> str:
    drop = set(machines)
    pieces: list[str] = []
    last = 0
    for start, end, tokens in _netrc_blocks(text):
        if tokens[0] == "machine" and len(tokens) > 1 and tokens[1] in drop:
            pieces.append(text[last:start])
            last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".netrc.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_netrc_entries(
    machines: Iterable[str], login: str, password: str, path: Path | None = None
) -> None:
    """Add (or replace) one entry per machine, keeping every other entry as it was."""
    path = path or netrc_path()
    machines = list(dict.fromkeys(machines))
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    text = _without_machines(text, machines).rstrip()
    new = "".join(
        f"machine {machine}\n  login {login}\n  password {password}\n" for machine in machines
    )
    _write_private(path, (text + "\n" if text else "") + new)


def remove_netrc_entries(machines: Iterable[str], path: Path | None = None) -> bool:
    """Remove the entries for `machines`; returns whether anything was removed."""
    path = path or netrc_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return False
    stripped = _without_machines(text, machines)
    if stripped == text:
        return False
    stripped = stripped.strip()
    _write_private(path, stripped + "\n" if stripped else "")
    return True


def resolve_token(url: str | None = None) -> str | None:
    """`COVE_API_KEY`, then the netrc password for `host:port`, then for `host`."""
    env_token = os.environ.get("COVE_API_KEY")
    if env_token:
        return env_token
    entries = read_netrc()
    for machine in netrc_machines(url or api_url()):
        entry = entries.get(machine)
        if entry is not None and entry.password:
            return entry.password
    return None


# -- git remotes ----------------------------------------------------------------------------


def run_git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def in_git_repo(cwd: Path | None = None) -> bool:
    try:
        return run_git("rev-parse", "--git-dir", cwd=cwd).returncode == 0
    except OSError:
        return False


def git_remotes(cwd: Path | None = None) -> dict[str, str]:
    """`{remote name: url}` for the repo at cwd; empty outside a repo or without git."""
    try:
        proc = run_git("config", "--get-regexp", r"^remote\..*\.url$", cwd=cwd)
    except OSError:
        return {}
    remotes: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote.") : -len(".url")]
        remotes.setdefault(name, url.strip())
    return remotes


def app_from_git_url(url: str) -> str | None:
    """`<name>` from a remote URL ending in `/<name>.git`."""
    path = urlsplit(url).path if "://" in url else url
    match = re.search(r"/([^/]+)\.git/?$", path)
    return match.group(1) if match else None


def points_at_api(url: str, base_url: str) -> bool:
    """Whether a git remote URL is served by the API host (same host and port)."""
    if "://" not in url:
        return False
    return host_and_port(url) == host_and_port(base_url)


def apps_in_remotes(remotes: dict[str, str], base_url: str) -> dict[str, list[str]]:
    """`{app: [remote names]}` for the remotes that point at Cove apps on `base_url`."""
    found: dict[str, list[str]] = {}
    for remote, url in sorted(remotes.items()):
        name = app_from_git_url(url)
        if name and points_at_api(url, base_url):
            found.setdefault(name, []).append(remote)
    return found


def resolve_app(app: str | None, remote: str | None, base_url: str | None = None) -> str:
    """Pick the app: --app, --remote, COVE_APP, then the cwd repo's Cove git remotes."""
    if app:
        return app
    remotes = git_remotes()
    if remote:
        url = remotes.get(remote)
        if url is None:
            raise CliError(f"Git remote {remote} not found.")
        name = app_from_git_url(url)
        if not name:
            raise CliError(f"Git remote {remote} ({url}) does not point to an app.")
        return name
    env_app = os.environ.get("COVE_APP")
    if env_app:
        return env_app
    found = apps_in_remotes(remotes, base_url or api_url())
    if len(found) == 1:
        return next(iter(found))
    if len(found) > 1:
        listing = ", ".join(f"{name} ({', '.join(r)})" for name, r in found.items())
        raise CliError(
            f"Multiple apps in git remotes: {listing}.\n"
            "Specify the app with --app NAME or --remote REMOTE."
        )
    raise CliError(NO_APP)


# -- per-invocation state -------------------------------------------------------------------


@dataclass
class CliState:
    """`ctx.obj`: how to build API clients (tests inject an `httpx.MockTransport`)."""

    transport: httpx.BaseTransport | None = None
    _clients: list[CoveClient] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return api_url()

    def token(self) -> str:
        token = resolve_token(self.api_url)
        if not token:
            raise CliError(NOT_LOGGED_IN)
        return token

    def client(self, token: str | None = None) -> CoveClient:
        """An API client, with the resolved token unless one is given."""
        client = CoveClient(
            self.api_url,
            token if token is not None else self.token(),
            transport=self.transport,
            user_agent=USER_AGENT,
            verify=trust.verify_for(self.api_url),
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        while self._clients:
            self._clients.pop().close()


pass_state = click.make_pass_decorator(CliState, ensure=True)


def app_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add `-a/--app` and `-r/--remote`, and pass the resolved app name as `app`."""

    @functools.wraps(func)
    def wrapper(*args: Any, app: str | None, remote: str | None, **kwargs: Any) -> Any:
        return func(*args, app=resolve_app(app, remote), **kwargs)

    wrapper = click.option("-r", "--remote", metavar="REMOTE", help="git remote of the app to use")(
        wrapper
    )
    wrapper = click.option("-a", "--app", metavar="NAME", help="app to run command against")(
        wrapper
    )
    return wrapper
