"""Log drains end to end: a deployed app's log (app, router, heroku and api lines) reaching
a syslog receiver over TCP and over TLS (its certificate from a test CA, trusted through
COVE_DRAIN_CA_FILE) and an HTTPS endpoint, framed as Logplex frames them; `cove drains`,
`drains:add` and `drains:remove` and their errors; and drains that are stalled, refused
or black holes not holding up the app or a healthy drain, their drops reported (L10)."""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove import tls
from tests.e2e.drain_receivers import (
    HttpReceiver,
    Message,
    StalledReceiver,
    SyslogReceiver,
    basic_auth,
    refused_port,
    server_tls,
)
from tests.e2e.harness import CoveServer, User, running_server, wait_for

pytestmark = pytest.mark.e2e

SECRET = "hunter2-drain-password"
L10 = re.compile(
    r"heroku\[logplex\]: Error L10 \(output buffer overflow\): (\d+) messages dropped "
    r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\."
)


@pytest.fixture(scope="module")
def drain_ca(tmp_path_factory: pytest.TempPathFactory) -> tls.TlsFiles:
    """A test CA, and a certificate it signed for the receivers (localhost, 127.0.0.1)."""
    files = tls.TlsFiles(tmp_path_factory.mktemp("drain-ca"))
    tls.issue(tls.ensure_ca(files), ["localhost", "127.0.0.1"], files.cert, files.key)
    return files


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, drain_ca: tls.TlsFiles
) -> Iterator[CoveServer]:
    with running_server(
        tmp_path_factory.mktemp("drains"), COVE_DRAIN_CA_FILE=str(drain_ca.ca_cert)
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def dev(server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    return User.logged_in(tmp_path_factory.mktemp("dev"), server)


def drains_of(dev: User, app: str) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = json.loads(dev.cove("drains", "--json", "-a", app).stdout)
    return listed


def cove_with_stdin(dev: User, text: str, *args: str) -> str:
    return dev.run(sys.executable, "-m", "cove.cli.main", *args, input=text).stdout


def server_log(server: CoveServer) -> str:
    return server.log_path.read_text(errors="replace")


def app_log(dev: User, app: str, *args: str) -> str:
    return dev.cove("logs", "-n", "1500", "-a", app, *args).stdout


def sources(messages: list[Message]) -> set[tuple[str, str, int]]:
    return {(m.source, m.dyno, m.pri) for m in messages}


def test_syslog_drains_over_tcp_and_tls_get_every_source(
    dev: User, server: CoveServer, drain_ca: tls.TlsFiles
) -> None:
    repo = dev.new_repo("drained", "drained-syslog")
    dev.cove("apps:create", "drained-syslog", cwd=repo)
    with (
        SyslogReceiver() as plain,
        SyslogReceiver(server_tls(drain_ca.cert, drain_ca.key)) as secure,
    ):
        added = dev.cove("drains:add", plain.url, cwd=repo).stdout
        assert added == f"Successfully added drain {plain.url}\n"
        dev.cove("drains:add", secure.url, cwd=repo)
        drains = drains_of(dev, "drained-syslog")
        assert [d["url"] for d in drains] == [plain.url, secure.url]
        assert all(re.fullmatch(r"d\.[0-9a-f-]{36}", d["token"]) for d in drains)
        listed = dev.cove("drains", cwd=repo).stdout
        assert listed == "=== Drains\n\n" + "".join(f"{d['url']} ({d['token']})\n" for d in drains)

        dev.push(repo)  # api, heroku[web.1] lines; then an app line and a router line
        assert server.get("drained-syslog", "/probe").status_code == 200
        expected = {
            ("app", "web.1", 190),  # "served /probe"
            ("heroku", "router", 158),
            ("heroku", "web.1", 40),  # "State changed from starting to up"
            ("app", "api", 45),  # "Release v2 created by user ..."
        }
        for receiver, drain in ((plain, drains[0]), (secure, drains[1])):

            def every_source(r: SyslogReceiver = receiver) -> bool:
                return expected <= sources(r.messages) and 'path="/probe"' in "".join(r.texts())

            wait_for(every_source, 30, what=f"every source on {receiver.url}")
            assert {m.host for m in receiver.messages} == {drain["token"]}
            texts = receiver.texts()
            assert "served /probe" in texts
            assert "State changed from starting to up" in texts
            assert any(re.match(r"Release v\d+ created by user", t) for t in texts)
            router = next(t for t in texts if 'path="/probe"' in t)
            assert router.startswith("at=info method=GET") and "status=200" in router

        # Removed (by its URL) at run time: the drain's connection ends, nothing more comes.
        removed = dev.cove("drains:remove", plain.url, cwd=repo).stdout
        assert removed == f"Successfully removed drain {plain.url}\n"
        wait_for(lambda: plain.closed == 1, 10, what="the removed drain's connection to end")
        server.get("drained-syslog", "/after-removal")
        wait_for(lambda: "served /after-removal" in secure.texts(), 30, what="the kept drain")
        assert "served /after-removal" not in plain.texts() and plain.connections == 1
        assert [d["url"] for d in drains_of(dev, "drained-syslog")] == [secure.url]

        # Removed by its token; then destroying the app leaves no drain behind.
        dev.cove("drains:add", plain.url, cwd=repo)
        token = drains_of(dev, "drained-syslog")[1]["token"]
        wait_for(lambda: plain.connections == 2, 10, what="the drain added again to connect")
        assert dev.cove("drains:remove", token, cwd=repo).stdout == removed
        wait_for(lambda: plain.closed == 2, 10, what="the drain removed by token to stop")
        dev.cove("apps:destroy", "-a", "drained-syslog", "--confirm", "drained-syslog", cwd=repo)
        wait_for(lambda: secure.closed == 1, 10, what="the destroyed app's drain to stop")


def test_https_drain_posts_logplex_batches(
    dev: User, server: CoveServer, drain_ca: tls.TlsFiles
) -> None:
    repo = dev.new_repo("drained", "drained-https")
    dev.cove("apps:create", "drained-https", cwd=repo)
    with HttpReceiver(server_tls(drain_ca.cert, drain_ca.key)) as receiver:
        # The URL holds a password: given on stdin, not in the command line.
        url = receiver.url(f"alice:{SECRET}")
        added = cove_with_stdin(dev, url + "\n", "drains:add", "-", "-a", "drained-https")
        assert added == f"Successfully added drain {url}\n"
        (drain,) = drains_of(dev, "drained-https")
        dev.push(repo)
        server.get("drained-https", "/lines?n=50&tag=batched")

        def all_lines() -> list[str]:
            return [t for t in receiver.texts() if t.startswith("batched line")]

        wait_for(lambda: len(all_lines()) == 50, 30, what="50 lines by HTTPS")
        assert all_lines() == [f"batched line {i} of 50" for i in range(1, 51)]
        frame_ids = set()
        for post in receiver.posts:
            assert post.headers["content-type"] == "application/logplex-1"
            assert int(post.headers["logplex-msg-count"]) == len(post.messages) >= 1
            assert post.headers["logplex-drain-token"] == drain["token"]
            assert post.headers["user-agent"].startswith("Logplex/v")
            assert basic_auth(post.headers["authorization"]) == f"alice:{SECRET}"
            assert re.fullmatch(r"[0-9A-F]{32}", post.headers["logplex-frame-id"])
            frame_ids.add(post.headers["logplex-frame-id"])
            assert {m.host for m in post.messages} == {"host"}
        assert len(frame_ids) == len(receiver.posts)
        assert max(len(p.messages) for p in receiver.posts) > 1  # lines go in batches
        assert ("app", "web.1", 190) in sources([m for p in receiver.posts for m in p.messages])

        removed = cove_with_stdin(dev, drain["token"], "drains:remove", "-", "-a", "drained-https")
        assert removed == f"Successfully removed drain {url}\n"
    assert SECRET not in server_log(server)


def test_drain_errors(dev: User, server: CoveServer) -> None:
    dev.cove("apps:create", "drain-errors")

    def refused(*args: str) -> str:
        result = dev.cove(*args, "-a", "drain-errors", check=False)
        assert result.returncode == 1 and result.stdout == "", result
        return result.stderr

    wrong_scheme = refused("drains:add", f"ftp://alice:{SECRET}@logs.example.com:21")
    assert "Url is invalid: a drain URL starts with syslog://, syslog+tls://" in wrong_scheme
    assert "Error ID: invalid_params" in wrong_scheme and SECRET not in wrong_scheme
    no_port = refused("drains:add", "syslog://logs.example.com")
    assert "Url is invalid: a syslog drain needs a port (syslog://host:port)." in no_port
    assert "Url is invalid: it has no host." in refused("drains:add", "syslog+tls://:6514")
    bad_port = refused("drains:add", "syslog://logs.example.com:70000")
    assert "its port is not a number from 1 to 65535" in bad_port

    dev.cove("drains:add", "syslog://127.0.0.1:9", "-a", "drain-errors")
    assert "Url has already been taken" in refused("drains:add", "syslog://127.0.0.1:9")
    for port in range(10, 14):
        dev.cove("drains:add", f"syslog://127.0.0.1:{port}", "-a", "drain-errors")
    too_many = refused("drains:add", "syslog://127.0.0.1:14")
    assert "the maximum number of drains allowed (5 per app)" in too_many
    assert len(drains_of(dev, "drain-errors")) == 5

    unknown = refused("drains:remove", "syslog://127.0.0.1:99")
    assert "Couldn't find that log drain" in unknown and "Error ID: not_found" in unknown
    assert "Couldn't find that log drain" in refused("drains:remove", "d.nope")
    gone = dev.cove("drains", "-a", "no-such-app", check=False)
    assert gone.returncode == 1 and "Couldn't find that app" in gone.stderr

    # The API's answers: 422 invalid_params, no URL echoed back.
    answer = server.api(
        "POST", "/apps/drain-errors/log-drains", json={"url": f"gopher://u:{SECRET}@h:70"}
    )
    assert answer.status_code == 422 and answer.json()["id"] == "invalid_params"
    assert SECRET not in answer.text
    surrogate = server.api(  # a lone surrogate: valid JSON, no valid text
        "POST",
        "/apps/drain-errors/log-drains",
        content=b'{"url": "syslog://h\\ud800:514"}',
        headers={"Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422 and "a URL is ASCII" in surrogate.json()["message"]
    missing = server.api("POST", "/apps/drain-errors/log-drains", json={})
    assert missing.status_code == 422 and missing.json()["id"] == "invalid_params"
    dev.cove("apps:destroy", "-a", "drain-errors", "--confirm", "drain-errors")


def test_an_untrusted_certificate_is_reported_as_l14(
    dev: User, server: CoveServer, tmp_path: Path
) -> None:
    stranger = tls.TlsFiles(tmp_path / "untrusted-ca")  # not in COVE_DRAIN_CA_FILE
    tls.issue(tls.ensure_ca(stranger), ["localhost"], stranger.cert, stranger.key)
    dev.cove("apps:create", "drain-l14")
    with SyslogReceiver(server_tls(stranger.cert, stranger.key)) as receiver:
        dev.cove("drains:add", receiver.url, "-a", "drain-l14")
        uri = f'uri="syslog+tls://localhost:{receiver.port}/"'

        def reported() -> str:
            log = app_log(dev, "drain-l14", "-s", "heroku", "-d", "logplex")
            return next((line for line in log.splitlines() if "L14" in line), "")

        line = wait_for(reported, 30, interval=0.3, what="an L14 line in the app's log")
        assert "heroku[logplex]: Error L14 (certificate validation): error=" in line
        assert line.endswith(uri)
        assert receiver.messages == []  # nothing is sent to a receiver that isn't verified
    dev.cove("apps:destroy", "-a", "drain-l14", "--confirm", "drain-l14")


def test_stalled_and_dead_drains_do_not_hold_up_the_app_or_other_drains(
    dev: User, server: CoveServer
) -> None:
    app = "drained-stall"
    repo = dev.new_repo("drained", app)
    dev.cove("apps:create", app, cwd=repo)
    dev.push(repo)

    def latencies(count: int) -> list[float]:
        taken = []
        for n in range(count):
            started = time.perf_counter()
            assert server.get(app, f"/timed-{n}").status_code == 200
            taken.append(time.perf_counter() - started)
        return taken

    before = latencies(40)
    with SyslogReceiver() as healthy, StalledReceiver() as stalled, StalledReceiver() as hole:
        dev.cove("drains:add", healthy.url, "-a", app)
        dev.cove("drains:add", f"syslog://127.0.0.1:{stalled.port}", "-a", app)
        dead = f"syslog://127.0.0.1:{refused_port()}"
        dev.cove("drains:add", dead, "-a", app)
        # Accepts the connection, never completes TLS nor answers: a black hole.
        cove_with_stdin(
            dev, f"https://alice:{SECRET}@127.0.0.1:{hole.port}/logs", "drains:add", "-", "-a", app
        )
        wait_for(stalled.connections, 15, what="the stalled drain to connect")

        # 8000 lines in 500-line bursts: more than the stalled drain's buffer (1024) and
        # what its socket holds, within the app's own line budget (no L10 of its own).
        for n in range(1, 17):
            assert server.get(app, f"/lines?n=500&tag=burst-{n}").status_code == 200
        during = latencies(40)
        wait_for(hole.connections, 15, what="the HTTPS drain to connect")  # (it POSTs lines)

        def burst_lines() -> int:
            return sum(1 for t in healthy.texts() if t.startswith("burst-"))

        wait_for(lambda: burst_lines() == 8000, 60, what="every line on the healthy drain")

        def drops() -> list[int]:
            log = app_log(dev, app, "-s", "heroku", "-d", "logplex")
            return [int(m.group(1)) for m in L10.finditer(log)]

        dropped = wait_for(drops, 30, interval=0.3, what="an L10 line in the app's log")
        assert sum(dropped) > 0
        # The notice is a line of the app's log: the healthy drain gets it too.
        wait_for(
            lambda: any(
                m.source == "heroku" and m.dyno == "logplex" and "Error L10" in m.text
                for m in healthy.messages
            ),
            15,
            what="the L10 line on the healthy drain",
        )
        print(
            f"\nrequest latency, median / max: no drains {statistics.median(before) * 1000:.1f}"
            f" / {max(before) * 1000:.1f} ms; a stalled, a refused and a black-hole drain "
            f"{statistics.median(during) * 1000:.1f} / {max(during) * 1000:.1f} ms; "
            f"L10 reported {sum(dropped)} dropped"
        )
        failing = f"drain {dead}/ of app"
        wait_for(lambda: failing in server_log(server), 15, what="the dead drain in the log")
        assert SECRET not in server_log(server)
    dev.cove("apps:destroy", "-a", app, "--confirm", app)


def test_a_bad_drain_ca_file_stops_the_server_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    with (
        pytest.raises(AssertionError) as failed,
        running_server(tmp_path, COVE_DRAIN_CA_FILE=str(bad)),
    ):
        pass
    assert f"COVE_DRAIN_CA_FILE {bad} holds no PEM certificate" in str(failed.value)


def test_drains_keep_draining_after_a_server_restart(tmp_path: Path) -> None:
    with running_server(tmp_path) as own, SyslogReceiver() as receiver:
        dev = User.logged_in(tmp_path / "dev", own)
        dev.cove("apps:create", "drained-restart")
        dev.cove("drains:add", receiver.url, "-a", "drained-restart")
        dev.cove("config:set", "BEFORE=1", "-a", "drained-restart")
        wait_for(lambda: "Set BEFORE config vars" in " ".join(receiver.texts()), 15, what="before")
        own.stop()
        wait_for(lambda: receiver.closed == 1, 10, what="the drain to stop with the server")
        own.start()
        dev.cove("config:set", "AFTER=1", "-a", "drained-restart")
        wait_for(lambda: "Set AFTER config vars" in " ".join(receiver.texts()), 15, what="after")
        assert receiver.connections == 2
        # Lines restored from the saved history at start are not sent again.
        assert sum("Set BEFORE config vars" in t for t in receiver.texts()) == 1
