"""heroku-redis: a real Redis server, with a password, per add-on.

Each add-on gets its own ``redis-server`` (Debian's, or ``COVE_REDIS_SERVER``) on
127.0.0.1 with append-only persistence under ``COVE_HOME/addons/redis/<id>``, so add-ons
are isolated from each other and their data survives restarts of `cove server`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cove.addons.processes import ADDON_ROOT, Supervised, own_dir, sandboxed, service_user
from cove.addons.provider import DynoAccess, ProviderError, Provisioned
from cove.ports import free_port


def _binary(name: str, env: str) -> str:
    path = os.environ.get(env) or shutil.which(name)
    if not path:
        raise ProviderError(
            f"{name} is not installed: install the Debian package redis-server (or set {env})."
        )
    return path


CONFIG_FILE = "redis.conf"  # in the add-on's data directory, 0600: it holds the password


def config_text(resource: dict[str, Any], dyno_address: str | None = None) -> str:
    """The server's settings. A file rather than options, so the password is not on the
    server's command line, which any user of the host can read. It listens on loopback and
    on ``dyno_address``, where namespaced dynos reach it (cove.sandbox.netns)."""
    settings = {
        "bind": f"127.0.0.1 {dyno_address}" if dyno_address else "127.0.0.1",
        "port": str(resource["port"]),
        "requirepass": resource["password"],
        "dir": ADDON_ROOT,
        "appendonly": "yes",
        "save": '""',
        "protected-mode": "yes",
        "daemonize": "no",
    }
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def cli_invocation(
    redis_cli: str, resource: dict[str, Any], command: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for redis-cli: the password in ``REDISCLI_AUTH``, not ``-a``.
    (Not ``-u URL`` either: redis-cli 7.0 sends an empty user name for Heroku-style
    ``redis://:password@host`` URLs, which app clients such as redis-py handle fine.)"""
    argv = [redis_cli, "-h", "127.0.0.1", "-p", str(resource["port"]), *command]
    return argv, {**os.environ, "REDISCLI_AUTH": resource["password"]}


def _write_private(path: Path, text: str, owner: str | None) -> None:
    """Write ``path`` readable by ``owner`` (else Cove's user) alone, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner:
        shutil.chown(tmp, owner, owner)
    tmp.replace(path)


class RedisProvider:
    service = "heroku-redis"
    aliases: tuple[str, ...] = ("cove-redis",)
    plans: tuple[str, ...] = ("mini", "premium-0", "premium-1")
    default_plan = "mini"
    name_prefix = "redis"
    primary_attachment = "REDIS"
    secondary_prefix = "HEROKU_REDIS"

    def __init__(
        self, root: Path, loop: asyncio.AbstractEventLoop, dynos: DynoAccess | None = None
    ) -> None:
        self.root = root / "redis"
        self.dynos = dynos
        self.loop = loop
        self._servers: dict[str, Supervised] = {}

    def _server(self, resource: dict[str, Any]) -> Supervised:
        data = self.root / resource["id"]
        text = config_text(resource, self.dynos.address if self.dynos else None)
        _write_private(data / CONFIG_FILE, text, owner=service_user())
        server = [_binary("redis-server", "COVE_REDIS_SERVER"), f"{ADDON_ROOT}/{CONFIG_FILE}"]
        command = sandboxed(server, data, f"redis-{resource['id'][:8]}")
        return Supervised(f"redis {resource['id']}", command, self.loop)

    async def start(self, resources: list[dict[str, Any]]) -> None:
        for resource in resources:
            await self._start(resource)

    async def _start(self, resource: dict[str, Any]) -> None:
        server = self._server(resource)
        self._servers[resource["id"]] = server
        await server.start()
        await asyncio.to_thread(self._wait_ready, resource)

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._servers.values()))
        self._servers.clear()

    @staticmethod
    def url(resource: dict[str, Any]) -> str:
        return f"redis://:{resource['password']}@127.0.0.1:{resource['port']}"

    def _cli(self, resource: dict[str, Any], *command: str) -> str:
        argv, env = cli_invocation(_binary("redis-cli", "COVE_REDIS_CLI"), resource, command)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        if result.returncode != 0:
            raise ProviderError(f"redis-cli failed: {result.stderr.strip()}")
        return result.stdout

    def _wait_ready(self, resource: dict[str, Any], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._cli(resource, "PING").strip() == "PONG":
                    return
            except ProviderError:
                pass
            if time.monotonic() > deadline:
                raise ProviderError("Redis did not start within 30 seconds.")
            time.sleep(0.02)  # polling the server's readiness

    def provision(self, addon_id: str, plan: str) -> Provisioned:
        resource = {"id": addon_id, "port": free_port(), "password": secrets.token_urlsafe(24)}
        own_dir(self.root)
        own_dir(self.root / addon_id)
        try:
            asyncio.run_coroutine_threadsafe(self._start(resource), self.loop).result(60)
        except BaseException:
            self.deprovision(resource)  # a server that didn't come up is not left running
            raise
        return Provisioned(resource, self.url(resource))

    def reclaim(self, addon_id: str) -> None:
        self.deprovision({"id": addon_id})

    def deprovision(self, resource: dict[str, Any]) -> None:
        server = self._servers.pop(resource["id"], None)
        if server is not None:
            server.stop_threadsafe()
        shutil.rmtree(self.root / resource["id"], ignore_errors=True)

    def info(self, resource: dict[str, Any]) -> dict[str, Any]:
        text = self._cli(resource, "INFO")
        fields = dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line and line[0] != "#"
        )
        return {
            "status": "Available",
            "version": fields.get("redis_version", ""),
            "data_size": int(fields.get("used_memory", 0)),
            "connections": int(fields.get("connected_clients", 0)),
            "info": text,
        }
