"""`cove server --role`: Cove as separate processes sharing a PostgreSQL store. An API
server builds and serves the API; a router + manager server runs the dynos and routes to
them; a standby manager takes over (the lease in the store) when that one dies. Log lines
and the release phase's output cross between them."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.e2e.harness import CoveServer, User, server_env, wait_for


def role_server(root: Path, roles: str, **env: str) -> CoveServer:
    """A started `cove server --role <roles>` with its COVE_HOME under ``root``."""
    root.mkdir(exist_ok=True)
    home = root / "cove-home"
    server = CoveServer(home, root / "server.log", server_env(home) | {"COVE_ROLES": roles} | env)
    server.start()
    return server


def up_dynos(api: CoveServer, app: str) -> list[dict[str, object]]:
    dynos = api.api("GET", f"/apps/{app}/dynos").json()
    return [d for d in dynos if d["state"] == "up"]


def test_servers_in_roles_share_one_store(shared_store: str, tmp_path: Path) -> None:
    shared = {
        "COVE_DATABASE_URL": shared_store,
        "COVE_SLUGS_DIR": str(tmp_path / "slugs"),  # (the hosts' shared file system)
        "COVE_NETWORK_ISOLATION": "off",  # (two servers on one host: one set of dyno networks)
    }
    servers: list[CoveServer] = []
    try:
        api = role_server(tmp_path / "api", "api", **shared)
        servers.append(api)
        assert api.info["router_port"] is None and api.info["roles"] == ["api"]
        key = str(api.home / "secrets.key")  # every server of the store has its key
        edge = role_server(tmp_path / "edge", "router,manager", COVE_SECRETS_KEY_FILE=key, **shared)
        servers.append(edge)
        assert edge.info["api_url"] is None
        wait_for(
            lambda: "holding the dyno manager's lease" in edge.log_path.read_text(),
            30,
            what="the edge server to manage dynos",
        )
        standby = role_server(
            tmp_path / "standby", "router,manager", COVE_SECRETS_KEY_FILE=key, **shared
        )
        servers.append(standby)
        wait_for(
            lambda: "waiting for the dyno manager's lease" in standby.log_path.read_text(),
            30,
            what="the standby to wait",
        )

        # A push to the API server: the release phase runs on the manager's server, its
        # output reaches the push; the deploy is verified from the dyno rows.
        user = User.logged_in(tmp_path / "dev", api)
        repo = user.new_repo("release-phase", "split")
        user.cove("apps:create", "split", cwd=repo)
        push = user.push(repo).stderr
        assert re.search(r"release command running in release\.\d+ with GREETING=None", push)
        assert "Waiting for release.... done." in push
        assert "Verifying deploy... done." in push
        assert edge.get("split").text == "hello from release phase app"
        assert "release command running" not in api.log_path.read_text()  # not run here

        # Lines from the dyno (the edge's manager) and the router (the edge's) reach the
        # API server's log stream.
        logs = wait_for(
            lambda: (
                (t := user.cove("logs", "-n", "200", cwd=repo).stdout)
                and "heroku[router]" in t
                and "app[web.1]" in t
                and t
            ),
            30,
            what="router and dyno lines in cove logs",
        )
        assert "State changed from starting to up" in logs

        user.cove("ps:scale", "web=2", cwd=repo)
        wait_for(lambda: len(up_dynos(api, "split")) == 2, 60, what="two web dynos")
        before = {d["id"] for d in up_dynos(api, "split")}

        # The manager's server dies: the standby takes the lease over and starts the
        # formation again; its router serves the app.
        edge.stop(signal.SIGKILL)
        wait_for(
            lambda: "holding the dyno manager's lease" in standby.log_path.read_text(),
            60,
            what="the standby to take the lease over",
        )
        wait_for(
            lambda: len(up := up_dynos(api, "split")) == 2 and not before & {d["id"] for d in up},
            60,
            what="the formation started again by the standby",
        )
        assert standby.get("split").text == "hello from release phase app"

        # A config change through the API restarts the dynos under the new holder.
        user.cove("config:set", "GREETING=bonjour", cwd=repo)
        wait_for(
            lambda: standby.get("split").text == "bonjour from release phase app",
            60,
            what="the new config live",
        )

        # A holder that can no longer renew its lease (here: taken from it in the store)
        # stops its dynos; once the lease is free again, it manages them again.
        with psycopg.connect(shared_store, autocommit=True) as conn:
            conn.execute("UPDATE leases SET holder = 'elsewhere', expires_at = expires_at + 3600")
        wait_for(
            lambda: (
                "lost the dyno manager's lease" in standby.log_path.read_text()
                and standby.get("split").status_code == 503
            ),
            60,
            what="the standby to stop its dynos",
        )
        with psycopg.connect(shared_store, autocommit=True) as conn:
            conn.execute("UPDATE leases SET expires_at = 0")
        wait_for(
            lambda: standby.get("split").text == "bonjour from release phase app",
            60,
            what="the dynos back under the lease",
        )
    finally:
        for server in reversed(servers):
            server.stop()


def test_roles_need_a_postgresql_store_and_known_names(tmp_path: Path) -> None:
    for roles, message in [
        ("api", "needs a PostgreSQL store"),
        ("api,dashboard", "unknown role 'dashboard'"),
    ]:
        env = server_env(tmp_path / "cove-home") | {"COVE_ROLES": roles}
        done = subprocess.run(
            [sys.executable, "-m", "cove.server"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    # `cove server --role` is the same setting.
    done = subprocess.run(
        [sys.executable, "-m", "cove.cli.main", "server", "--role", "routr"],
        env=server_env(tmp_path / "cove-home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "unknown role 'routr'" in done.stderr, done.stderr


def test_api_servers_share_build_caches_and_build_an_app_in_turn(
    fresh_store: str, tmp_path: Path
) -> None:
    """Two API servers with one build cache directory (COVE_BUILD_CACHE_DIR): a build on
    either finds what the other saved, and an app's builds wait for each other across
    servers (a lease in the store, which expires if its holder dies mid-build)."""
    shared = {
        "COVE_DATABASE_URL": fresh_store,
        "COVE_SLUGS_DIR": str(tmp_path / "slugs"),  # (the hosts' shared file system)
        "COVE_BUILD_CACHE_DIR": str(tmp_path / "build-cache"),
        "COVE_NETWORK_ISOLATION": "off",
    }
    servers: list[CoveServer] = []
    try:
        main = role_server(tmp_path / "main", "api,router,manager", **shared)
        servers.append(main)
        key = str(main.home / "secrets.key")
        # (This one's builds stop for good once their slug is written.)
        other = role_server(
            tmp_path / "other",
            "api",
            COVE_SECRETS_KEY_FILE=key,
            COVE_TEST_PAUSE="slug-written",
            **shared,
        )
        servers.append(other)

        user = User.logged_in(tmp_path / "dev", main)
        repo = user.new_repo("flask-hello", "cached")
        user.cove("apps:create", "cached", cwd=repo)
        assert "Restoring cache" not in user.push(repo).stderr

        # The app pushed to the other API server: its build restores the cache the first
        # build saved, and is still under way (paused) when ...
        dev = User(tmp_path / "dev-other", other)
        dev.home.mkdir()
        dev.cove("login", "--token", main.admin_token)  # (the store's admin, made by main)
        clone = dev.home / "cached"
        shutil.copytree(repo, clone)
        dev.cove("git:remote", "-a", "cached", "-r", "other", cwd=clone)
        (clone / "notes.txt").write_text("from the other server\n")
        dev.commit_all(clone, "other")
        paused = subprocess.Popen(
            ["git", "push", "other", "main"], cwd=clone, env=dev.env, stderr=subprocess.PIPE
        )
        wait_for(
            lambda: (other.home / "paused-slug-written").exists(), 120, what="the paused build"
        )

        # ... a push to the first server: its build waits for that one.
        (repo / "notes.txt").write_text("from the main server\n")
        user.commit_all(repo, "main")
        waiting = subprocess.Popen(
            ["git", "push", "cove", "main"],
            cwd=repo,
            env=user.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        seen = ""
        while "Waiting for the previous build of this app to finish" not in seen:
            line = waiting.stderr.readline()
            assert line, f"the push ended without waiting: {seen}"
            seen += line

        # The other server dies mid-build: its lease expires, and the waiting build goes on.
        other.stop(signal.SIGKILL)
        paused.kill()
        _, cached = paused.communicate(timeout=30)
        assert b"Restoring cache" in cached
        rest = waiting.communicate(timeout=180)[1]
        assert waiting.returncode == 0, seen + rest
        assert "Restoring cache" in rest and "Verifying deploy... done." in rest
        assert main.get("cached").status_code == 200
    finally:
        for server in reversed(servers):
            server.stop()
