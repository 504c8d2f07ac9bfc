"""heroku-postgresql: a real database, with its own role and password, per add-on.

By default on a PostgreSQL cluster that Cove runs under ``COVE_HOME/addons/postgres``
(Debian's binaries, or ``COVE_POSTGRES_BIN``); with ``COVE_POSTGRES_ADMIN_URL``, on an
existing server the operator administers. ``CONNECT`` on each database is revoked from
``PUBLIC``, so one app's credentials cannot open another app's database.

Heroku Postgres requires SSL and apps pass ``sslmode=require``: Cove's cluster serves SSL
with a certificate from Cove's CA (its own key, not the API's), and still takes plain
connections (libpq's default ``sslmode=prefer`` uses SSL anyway).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from cove.addons.processes import ADDON_ROOT, Supervised, own_dir, sandboxed, service_user
from cove.addons.provider import DynoAccess, ProviderError, Provisioned
from cove.ports import free_port
from cove.tls import TlsFiles, ensure_ca, issue, needs_issuing

# The names the cluster's certificate covers (add-on URLs name 127.0.0.1).
_TLS_NAMES = ("127.0.0.1", "localhost")


def find_bin_dir() -> Path:
    configured = os.environ.get("COVE_POSTGRES_BIN")
    if configured:
        return Path(configured)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in versions:
        if (candidate / "postgres").is_file():
            return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ProviderError(
        "PostgreSQL is not installed: install the Debian package postgresql (or set "
        "COVE_POSTGRES_BIN, or COVE_POSTGRES_ADMIN_URL to use an existing server)."
    )


class Cluster:
    """The PostgreSQL server Cove manages: initialised once, started with `cove server`."""

    def __init__(
        self,
        root: Path,
        loop: asyncio.AbstractEventLoop,
        tls: TlsFiles | None = None,
        dynos: DynoAccess | None = None,
    ) -> None:
        self.root = root
        self.data = root / "data"
        self.loop = loop
        self.tls = tls
        self.dynos = dynos
        self._server: Supervised | None = None

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    @property
    def admin_url(self) -> str:
        password = (self.root / "admin-password").read_text().strip()
        return f"postgresql://cove_admin:{quote(password)}@127.0.0.1:{self.port}/postgres"

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def _initialise(self) -> None:
        bin_dir = find_bin_dir()
        own_dir(self.root)
        own_dir(self.root / "run")
        password = secrets.token_urlsafe(32)
        pwfile = self.root / "admin-password"
        pwfile.write_text(password + "\n")
        user = service_user()
        if user:
            shutil.chown(pwfile, user, user)
        pwfile.chmod(0o600)
        (self.root / "port").write_text(str(free_port()))
        initdb_command = sandboxed(
            [
                str(bin_dir / "initdb"),
                "-D",
                f"{ADDON_ROOT}/data",
                "-U",
                "cove_admin",
                f"--pwfile={ADDON_ROOT}/admin-password",  # the password itself: never on argv
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            self.root,
            "postgres",
        )
        with initdb_command() as launch:
            initdb = subprocess.run(
                launch.argv, capture_output=True, text=True, pass_fds=launch.pass_fds
            )
        if initdb.returncode != 0:
            raise ProviderError(f"initdb failed: {initdb.stderr.strip()[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# Cove\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\nunix_socket_directories = '{ADDON_ROOT}/run'\n"
                "max_connections = 200\n"
            )

    def _access(self) -> list[str]:
        """Where the cluster listens, and pg_hba.conf (Cove's own: written at each start)
        for it: passwords (SCRAM) from loopback and, when dynos have networks of their own,
        from their pool through the add-on address."""
        listen = ["127.0.0.1"]
        hba = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
        if self.dynos:
            listen.append(self.dynos.address)
            hba += f"host all all {self.dynos.network} scram-sha-256\n"
        (self.data / "pg_hba.conf").write_text(hba)
        return ["-c", f"listen_addresses={','.join(listen)}"]

    async def start(self) -> None:
        if self._server is not None:
            return
        if not self.initialised():
            await asyncio.to_thread(self._initialise)
        argv = [str(find_bin_dir() / "postgres"), "-D", f"{ADDON_ROOT}/data"]
        argv += await asyncio.to_thread(self._access)
        if self.tls is not None:
            await asyncio.to_thread(self._certificate, self.tls)
            argv += [
                "-c",
                "ssl=on",
                "-c",
                f"ssl_cert_file={ADDON_ROOT}/tls/server.pem",
                "-c",
                f"ssl_key_file={ADDON_ROOT}/tls/server-key.pem",
            ]
        command = sandboxed(argv, self.root, "postgres")
        # SIGINT is PostgreSQL's fast shutdown (on stop, and if `cove server` dies).
        self._server = Supervised("postgres", command, self.loop, stop_signal=signal.SIGINT)
        await self._server.start()
        await asyncio.to_thread(self._wait_ready)

    def _certificate(self, files: TlsFiles) -> None:
        """The server's certificate, signed by Cove's CA (issued again as it nears its
        end); its key is the server's user's own (PostgreSQL refuses one others can read)."""
        own_dir(self.root / "tls")
        cert, key = self.root / "tls" / "server.pem", self.root / "tls" / "server-key.pem"
        ca = ensure_ca(files)
        names = (*_TLS_NAMES, self.dynos.address) if self.dynos else _TLS_NAMES
        if needs_issuing(cert, key, names, ca[0]):
            issue(ca, names, cert, key)
        user = service_user()
        if user:
            shutil.chown(key, user, user)

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise ProviderError("PostgreSQL did not start within 30 seconds.") from None
                time.sleep(0.05)  # polling the server's readiness, as pg_isready does

    def ensure_started_threadsafe(self) -> None:
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(120)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None


class PostgresProvider:
    service = "heroku-postgresql"
    aliases: tuple[str, ...] = ("cove-postgresql",)
    plans: tuple[str, ...] = (
        "essential-0",
        "essential-1",
        "essential-2",
        "standard-0",
        "mini",
        "basic",
        "hobby-dev",
    )
    default_plan = "essential-0"
    name_prefix = "postgresql"
    primary_attachment = "DATABASE"
    secondary_prefix = "HEROKU_POSTGRESQL"

    def __init__(
        self,
        root: Path,
        loop: asyncio.AbstractEventLoop,
        tls: TlsFiles | None = None,
        dynos: DynoAccess | None = None,
    ) -> None:
        self.external = os.environ.get("COVE_POSTGRES_ADMIN_URL")
        self.cluster = Cluster(root / "postgres", loop, tls, dynos)
        self.backups_dir = root / "postgres-backups"

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, resources: list[dict[str, Any]]) -> None:
        if not self.external and (resources or self.cluster.initialised()):
            await self.cluster.start()

    async def stop(self) -> None:
        await self.cluster.stop()

    def _admin_url(self) -> str:
        if self.external:
            return self.external
        self.cluster.ensure_started_threadsafe()
        return self.cluster.admin_url

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._admin_url(), autocommit=True, connect_timeout=10)

    # -- provider protocol -----------------------------------------------------------------
    @staticmethod
    def names(addon_id: str) -> tuple[str, str]:
        """The add-on's database and role: derived from its id, so that an add-on whose
        creation was cut short can be found and dropped (``reclaim``)."""
        suffix = addon_id.replace("-", "").lower()
        if not suffix.isalnum():
            raise ValueError(f"not an add-on id: {addon_id!r}")
        return f"d{suffix}", f"u{suffix}"

    def provision(self, addon_id: str, plan: str) -> Provisioned:
        (database, role), password = self.names(addon_id), secrets.token_urlsafe(24)
        with self._admin() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            self._create_database(admin, database, role)
        admin_url = urlsplit(self._admin_url())
        host, port = admin_url.hostname or "127.0.0.1", admin_url.port or 5432
        resource = {
            "database": database,
            "role": role,
            "password": password,
            "host": host,
            "port": port,
        }
        return Provisioned(resource, self.url(resource))

    @staticmethod
    def url(resource: dict[str, Any]) -> str:
        # postgres:// as Heroku writes it (apps rewrite it for SQLAlchemy >= 1.4, as on Heroku).
        return (
            f"postgres://{resource['role']}:{quote(resource['password'])}@{resource['host']}:"
            f"{resource['port']}/{resource['database']}"
        )

    @staticmethod
    def _create_database(admin: psycopg.Connection[Any], database: str, role: str) -> None:
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
        admin.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
        )

    @staticmethod
    def _drop_database(admin: psycopg.Connection[Any], database: str) -> None:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))

    def reclaim(self, addon_id: str) -> None:
        database, role = self.names(addon_id)
        self.deprovision({"database": database, "role": role})

    def deprovision(self, resource: dict[str, Any]) -> None:
        with self._admin() as admin:
            self._drop_database(admin, resource["database"])
            admin.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(resource["role"]))
            )
        shutil.rmtree(self.backups_dir / resource["database"], ignore_errors=True)

    def info(self, resource: dict[str, Any]) -> dict[str, Any]:
        with psycopg.connect(self.url(resource), connect_timeout=10) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema')"
            ).fetchone()
            version = conn.execute("SHOW server_version").fetchone()
            connections = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchone()
        return {
            "status": "Available",
            "data_size": size[0] if size else 0,
            "tables": tables[0] if tables else 0,
            "version": version[0] if version else "",
            "connections": connections[0] if connections else 0,
        }

    # -- data operations (pg:reset, pg:backups, pg:copy) -----------------------------------
    def reset(self, resource: dict[str, Any]) -> None:
        """Delete every object and row: recreate the database, same name and owner."""
        with self._admin() as admin:
            self._drop_database(admin, resource["database"])
            self._create_database(admin, resource["database"], resource["role"])

    def diagnose(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        """``pg:diagnose``'s checks, as Heroku's report lists them (status green, yellow or
        red; ``results`` the offending rows)."""
        with psycopg.connect(self.url(resource), connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"
            ).fetchone()
            count, most = row if row else (0, 100)
            slow: dict[str, list[Any]] = {}
            for name, state in (("Long Queries", "active"), ("Idle in Transaction", "idle in%")):
                slow[name] = conn.execute(
                    "SELECT pid, (now() - query_start)::text, left(query, 60) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state LIKE %s"
                    " AND now() - query_start > interval '1 minute' AND pid <> pg_backend_pid()",
                    (state,),
                ).fetchall()
        share = count / most if most else 0
        checks: list[dict[str, Any]] = [
            {
                "name": "Connection Count",
                "status": "red" if share > 0.9 else "yellow" if share > 0.75 else "green",
                "results": {"count": count, "max_connections": most},
            }
        ]
        for name, rows in slow.items():
            checks.append(
                {
                    "name": name,
                    "status": "yellow" if rows else "green",
                    "results": [{"pid": r[0], "duration": r[1], "query": r[2]} for r in rows],
                }
            )
        return checks

    def set_password(self, resource: dict[str, Any], password: str) -> dict[str, Any]:
        """The role's new password (``pg:credentials:rotate``); the resource that has it."""
        with self._admin() as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(resource["role"]), sql.Literal(password)
                )
            )
        return {**resource, "password": password}

    def terminate_connections(self, resource: dict[str, Any]) -> int:
        """``pg:killall``: end every connection to the database; how many there were."""
        with self._admin() as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (resource["database"],),
            ).fetchall()
        return len(rows)

    def backup_path(self, resource: dict[str, Any], num: int) -> Path:
        return self.backups_dir / resource["database"] / f"b{num:03d}.dump"

    def capture(self, resource: dict[str, Any], num: int) -> int:
        path = self.backup_path(resource, num)
        self._dump(resource, path)
        return path.stat().st_size

    def _dump(self, resource: dict[str, Any], path: Path) -> None:
        """``pg_dump -Fc`` of the database into ``path`` (restorable into any role's)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run(
            resource,
            [
                str(find_bin_dir() / "pg_dump"),
                "-Fc",
                "--no-owner",
                "--no-acl",
                "-f",
                str(path),
                "-d",
                self.client_url(resource),
            ],
        )

    def restore(self, resource: dict[str, Any], dump: Path) -> None:
        """Replace the database's contents with a ``pg_dump -Fc`` file."""
        self.reset(resource)
        self._run(
            resource,
            [
                str(find_bin_dir() / "pg_restore"),
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "-d",
                self.client_url(resource),
                str(dump),
            ],
        )

    def copy(self, source: dict[str, Any], target: dict[str, Any]) -> None:
        """pg:copy: the target's data is replaced by the source's."""
        tmp = self.backups_dir / f".copy-{secrets.token_hex(6)}.dump"
        try:
            self._dump(source, tmp)
            self.restore(target, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def client_url(resource: dict[str, Any]) -> str:
        """The database's URL without its password, for a client's command line (which any
        user of the host can read); the password goes in ``client_env``."""
        return (
            f"postgresql://{quote(resource['role'])}@{resource['host']}:{resource['port']}/"
            f"{quote(resource['database'])}"
        )

    @staticmethod
    def client_env(resource: dict[str, Any]) -> dict[str, str]:
        """The environment for pg_dump/pg_restore: the password in ``PGPASSWORD`` (a
        process's environment is private to its user), no stray ``PG*`` settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return env | {"PGPASSWORD": resource["password"]}

    @classmethod
    def _run(cls, resource: dict[str, Any], argv: list[str]) -> None:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=3600, env=cls.client_env(resource)
        )
        if result.returncode != 0:
            raise ProviderError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-2000:]}")
