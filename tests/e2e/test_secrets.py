"""No secret on any command line: every process's /proc/<pid>/cmdline is readable by every
user of the host, so config vars and add-on passwords must never appear there, while a
build, a release command, dynos, the Postgres and Redis servers, backups and the CLI's
database clients run."""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from tests.e2e.gate import Gate
from tests.e2e.harness import CoveServer, User, running_server, wait_for

GATE_PY = '''
"""Waits at the test's gate (GATE_PORT, from the environment or the build's env dir)
until the test has read every process's command line."""
import os, socket, sys
from pathlib import Path

role = sys.argv[1]
port = os.environ.get("GATE_PORT") or Path(sys.argv[2], "GATE_PORT").read_text()
with socket.create_connection(("127.0.0.1", int(port))) as conn:
    conn.sendall(f"{role}\\n".encode())
    conn.recv(16)
print(f"{role} passed the gate")
'''


class CommandLines:
    """Reads every process's command line on the host: continuously in a thread (for
    processes too short-lived to wait for), and at checkpoints while a given one runs."""

    def __init__(self, needles: list[str]) -> None:
        self.needles = [n.encode() for n in needles]
        self.hits: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def scan(self) -> list[bytes]:
        seen = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                seen.append(cmdline)
                if any(n in cmdline for n in self.needles):
                    self.hits[int(proc.name)] = cmdline
        return seen

    def _watch(self) -> None:
        while not self._stop.wait(0.01):  # sampling rate, not synchronisation
            self.scan()

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def checkpoint(self, *markers: str) -> None:
        """Once a process whose command line holds all ``markers`` runs, no command line
        holds a secret (nor has held one so far)."""
        wanted = [m.encode() for m in markers]
        wait_for(
            lambda: any(all(m in c for m in wanted) for c in self.scan()),
            120,
            what=f"a process running with {markers}",
        )
        self.assert_clean()

    def assert_clean(self) -> None:
        if self.hits:  # (pytest.fail: an assert would print the secrets themselves)
            pytest.fail(
                "secrets on command lines:\n"
                + "\n".join(f"{pid}: {self._redacted(c)}" for pid, c in self.hits.items())
            )

    def _redacted(self, cmdline: bytes) -> str:
        for needle in self.needles:
            cmdline = cmdline.replace(needle, b"<SECRET>")
        return cmdline.replace(b"\0", b" ").decode(errors="replace")[:600]


def gate_buildpack(root: Path) -> Path:
    bp = root / "gate-buildpack"
    (bp / "bin").mkdir(parents=True)
    scripts = {
        "detect": "#!/bin/sh\necho Gated\n",
        "compile": '#!/bin/sh\nset -e\npython3 "$1/gate.py" build "$3"\n',
    }
    for name, body in scripts.items():
        (bp / "bin" / name).write_text(body)
        (bp / "bin" / name).chmod(0o755)
    return bp


def cli(user: User, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cove.cli.main", *args],
        env=user.env,
        cwd=user.home,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str], stdin: str | None = None) -> str:
    out, err = proc.communicate(stdin, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return out


def password(url: str) -> str:
    secret = urlsplit(url).password
    assert secret
    return unquote(secret)


def test_no_secret_on_any_command_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("secrets")
    gate = Gate()
    # The build and release phase reach the test's gate on the host's loopback, which dynos
    # in network namespaces of their own cannot (test_network_isolation.py).
    with running_server(root, COVE_NETWORK_ISOLATION="off") as server:
        user = User.logged_in(root / "dev", server)
        repo = user.home / "vault"
        repo.mkdir()
        (repo / "gate.py").write_text(textwrap.dedent(GATE_PY).lstrip())
        (repo / "Procfile").write_text(
            "web: python3 -m http.server $PORT\nrelease: python3 gate.py release\n"
        )
        user.git("init", "-q", "-b", "main", cwd=repo)
        user.commit_all(repo, "vault")
        user.cove("apps:create", "vault", cwd=repo)
        user.cove("buildpacks:set", str(gate_buildpack(root)), cwd=repo)
        user.cove("addons:create", "heroku-postgresql", cwd=repo)
        user.cove("addons:create", "heroku-redis", cwd=repo)
        secret = f"s3cret-{secrets.token_hex(12)}"
        # Through the API: `config:set K=V` would put it on the CLI's own command line.
        set_config = server.api(
            "PATCH",
            "/apps/vault/config-vars",
            json={"VAULT_SECRET": secret, "GATE_PORT": str(gate.port)},
        )
        assert set_config.status_code == 200, set_config.text
        config = server.api("GET", "/apps/vault/config-vars").json()
        admin_password = (server.home / "addons" / "postgres" / "admin-password").read_text()
        needles = [
            secret,
            password(config["DATABASE_URL"]),
            password(config["REDIS_URL"]),
            admin_password.strip(),
        ]
        with CommandLines(needles) as cmdlines:
            push_and_release(user, server, repo, gate, cmdlines)
            servers_and_clients(user, server, config, cmdlines)
        cmdlines.assert_clean()


def push_and_release(
    user: User, server: CoveServer, repo: Path, gate: Gate, cmdlines: CommandLines
) -> None:
    pool = ThreadPoolExecutor(1)
    push = pool.submit(user.push, repo)
    try:
        with gate.holding("build"):
            cmdlines.checkpoint("gate.py", "build", "/env")
        with gate.holding("release"):
            cmdlines.checkpoint("gate.py", "release")
        pushed = push.result(timeout=600)
    finally:
        gate.close()  # on failure, so that the push ends too
        pool.shutdown()
    assert "release passed the gate" in pushed.stderr
    dynos = server.api("GET", "/apps/vault/dynos").json()
    (web,) = [d for d in dynos if d["type"] == "web"]
    wait_for(lambda: server.get("vault").status_code == 200, 60, what="vault serving")
    cmdlines.checkpoint(web["id"])  # the dyno's sandbox carries its id as hostname
    home = str(server.home)
    cmdlines.checkpoint(home, "addons/redis")
    cmdlines.checkpoint(home, "addons/postgres")


def servers_and_clients(
    user: User, server: CoveServer, config: dict[str, str], cmdlines: CommandLines
) -> None:
    # pg_dump waits for a lock the test holds: the backup is looked at while it runs.
    with psycopg.connect(config["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE guarded (x int)")
        conn.commit()
        conn.execute("LOCK TABLE guarded IN ACCESS EXCLUSIVE MODE")
        capture = cli(user, "pg:backups:capture", "-a", "vault")
        cmdlines.checkpoint("pg_dump", str(server.home))
        conn.rollback()
    finished(capture)
    finished(cli(user, "pg:backups:restore", "b001", "-a", "vault", "--confirm", "vault"))
    finished(cli(user, "redis:info", "-a", "vault"))

    # The CLI's own clients, interactive: looked at while connected and waiting for input.
    psql = cli(user, "pg:psql", "-a", "vault", stdin=subprocess.PIPE)
    with psycopg.connect(config["DATABASE_URL"], autocommit=True) as conn:

        def psql_connected() -> bool:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cove pg:psql'"
            ).fetchone()
            return bool(row and row[0])

        wait_for(psql_connected, 60, what="pg:psql to connect")
    cmdlines.checkpoint("psql", "vault::DATABASE")
    assert "42" in finished(psql, "SELECT 41 + 1;\n")

    redis_port = str(urlsplit(config["REDIS_URL"]).port)
    redis_cli = cli(user, "redis:cli", "-a", "vault", stdin=subprocess.PIPE)
    cmdlines.checkpoint("redis-cli", f"127.0.0.1:{redis_port}")
    assert "PONG" in finished(redis_cli, "PING\n")
