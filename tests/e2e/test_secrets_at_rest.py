"""Secrets at rest: config vars and add-on credentials are never in plain text in the store
file (nor its write-ahead log, backups, the server's log or the build output), the app and
a restarted server still read them, and a missing or wrong key file is refused clearly."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet

from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_operator import cove_server, start_refused


def on_disk(path: Path) -> bytes:
    """A SQLite file with its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def assert_absent(needles: list[str], haystack: bytes, where: str) -> None:
    for needle in needles:
        # (not `assert needle not in`: a failure would print the secret and the file)
        if needle.encode() in haystack:
            raise AssertionError(f"a secret is in plain text in {where}")


def serves(server: CoveServer, app: str, text: str) -> bool:
    response = server.get(app)
    return response.status_code == 200 and response.text == text


def test_secrets_are_encrypted_in_the_store_and_the_key_is_checked(tmp_path: Path) -> None:
    marker = f"marker-{secrets.token_hex(12)}"
    with running_server(tmp_path) as server:
        home = server.home
        db = home / "cove.db"
        key = home / "secrets.key"
        assert key.stat().st_mode & 0o777 == 0o600
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("crashy", "vault")
        user.cove("apps:create", "vault", cwd=repo)
        user.cove("config:set", f"TEXT={marker}", cwd=repo)
        user.cove("addons:create", "heroku-redis", cwd=repo)
        pushed = user.push(repo)
        wait_for(lambda: serves(server, "vault", marker), 120, what="vault to serve its config")
        config = server.api("GET", "/apps/vault/config-vars").json()
        password = unquote(urlsplit(config["REDIS_URL"]).password or "")
        assert len(password) >= 16
        needles = [marker, password]

        assert_absent(needles, on_disk(db), "the store")
        assert_absent(needles, (pushed.stdout + pushed.stderr).encode(), "the build output")
        logs = user.cove("logs", "-n", "1500", cwd=repo)
        assert "Set TEXT config vars" in logs.stdout  # the names only
        assert_absent(needles, logs.stdout.encode(), "the app's log")
        backup = tmp_path / "backup.db"
        assert cove_server(server, "--backup", str(backup)).returncode == 0
        assert_absent(needles, backup.read_bytes(), "a backup")

        # A restarted server reads them again: the app and the API see the values.
        server.stop()
        for taken in (home / "backups").glob("*.db"):
            assert_absent(needles, taken.read_bytes(), taken.name)
        server.start()
        wait_for(lambda: serves(server, "vault", marker), 120, what="vault after a restart")
        assert server.api("GET", "/apps/vault/config-vars").json()["TEXT"] == marker
        refused = cove_server(server, "--rotate-secrets-key")
        assert refused.returncode == 1 and "Stop it first." in refused.stderr
        server.stop()

        # A missing key file: refused with what to do, and --check says so.
        saved = key.read_bytes()
        key.unlink()
        refused_start = start_refused(server)
        assert f"the secrets key file {key} is missing" in refused_start.stderr
        assert "Nothing was started." in refused_start.stderr
        assert not key.exists()  # never made again over a store that has secrets
        check = cove_server(server, "--check")
        assert check.returncode == 1
        assert "FAIL  Secrets key: the secrets key file" in check.stdout
        assert "Traceback" not in check.stdout + check.stderr

        # Another key: refused before anything reads a secret.
        key.write_bytes(Fernet.generate_key() + b"\n")
        refused_start = start_refused(server)
        assert "not the key they were encrypted with" in refused_start.stderr
        assert cove_server(server, "--check").returncode == 1

        # The right key, and a rotation: the store is encrypted again with a new key, the
        # old one kept for the backups taken before.
        key.write_bytes(saved)
        exposed = cove_server(server, "--check")
        assert exposed.returncode == 1
        assert f"FAIL  {key} holds secrets but other users can read it" in exposed.stdout
        key.chmod(0o600)
        healthy = cove_server(server, "--check")
        assert healthy.returncode == 0, healthy.stdout
        assert "decrypts the store's secrets" in healthy.stdout
        rotated = cove_server(server, "--rotate-secrets-key")
        assert rotated.returncode == 0, rotated
        assert key.read_bytes() != saved
        assert [p.read_bytes() for p in home.glob("secrets.key.retired-*")] == [saved]
        server.start()
        wait_for(lambda: serves(server, "vault", marker), 120, what="vault after a rotation")
        server.stop()
        assert_absent(needles, on_disk(db), "the store after a rotation")

        # A backup from before the rotation restores with the retired key added to the file.
        assert cove_server(server, "--restore", str(backup)).returncode == 0
        assert "not the key they were encrypted with" in start_refused(server).stderr
        key.write_bytes(key.read_bytes() + saved)
        server.start()
        assert server.api("GET", "/apps/vault/config-vars").json()["TEXT"] == marker
        server.stop()
        assert_absent(needles, server.log_path.read_bytes(), "the server's log")
