"""HTTPS end to end: Cove's own CA, apps over the router's HTTPS listener, what apps see
of it (X-Forwarded-*, Flask's ProxyFix, Django's SSL redirect), trusted front proxies,
git pushes over HTTPS, `cove certs:ca`, trusting a server's CA from another machine,
Postgres with sslmode=require, TLS slowloris on the router, and TLS switched off."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cove import tls
from cove.tls import fingerprint
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_hostile_clients import SlowClients, port_of

pytestmark = pytest.mark.e2e

TRUSTED = "127.0.0.5"  # a front proxy the router trusts (COVE_ROUTER_TRUSTED_PROXIES)
HEADER_TIMEOUT = 4.0
PER_ADDRESS = 20  # connections the router holds from one address


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    with running_server(
        tmp_path_factory.mktemp("tls"),
        COVE_ROUTER_TRUSTED_PROXIES=f"{TRUSTED}/32",
        COVE_ROUTER_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        COVE_ROUTER_MAX_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS),
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def dev(server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    return User.logged_in(tmp_path_factory.mktemp("dev"), server)


@pytest.fixture(scope="module")
def flask_app(dev: User) -> Path:
    """Flask behind ProxyFix, with a Postgres add-on, pushed over HTTPS."""
    repo = dev.new_repo("tls-flask")
    dev.cove("apps:create", "tls-flask", cwd=repo)
    dev.cove("addons:create", "heroku-postgresql", cwd=repo)
    dev.push(repo)
    return repo


def ca_context(server: CoveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def https(server: CoveServer, app: str, path: str = "/") -> httpx.Response:
    """A request to an app through the router's HTTPS listener, verified against Cove's
    CA for the app's own name (sent by SNI, as a browser would)."""
    host = server.app_host(app)
    port = port_of(server.router_https_url)
    return get_with_sni(server.ca_file, f"https://127.0.0.1:{port}{path}", f"{host}:{port}", host)


def get_with_sni(ca: Path, url: str, host: str, sni: str) -> httpx.Response:
    """GET ``url`` with ``Host: host``, verifying the certificate for the name ``sni``
    against the CA certificate ``ca``."""
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=context, timeout=30) as client:
        request = client.build_request(
            "GET", url, headers={"Host": host}, extensions={"sni_hostname": sni}
        )
        return client.send(request)


def seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["headers"] = {k.lower(): v for k, v in body["headers"].items()}
    return body


def test_an_app_answers_over_https_and_knows_it(server: CoveServer, flask_app: Path) -> None:
    app = seen(https(server, "tls-flask"))
    https_port = port_of(server.router_https_url)
    assert app["headers"]["x-forwarded-proto"] == "https"
    assert app["headers"]["x-forwarded-port"] == str(https_port)
    assert app["scheme"] == "https"  # ProxyFix
    assert app["url"] == f"https://tls-flask.localhost:{https_port}/"
    # The plain listener still says http.
    plain = seen(server.get("tls-flask"))
    assert plain["headers"]["x-forwarded-proto"] == "http"
    assert plain["scheme"] == "http"


def test_curl_trusts_an_apps_name_with_the_ca(server: CoveServer, flask_app: Path) -> None:
    """*.localhost is one label: OpenSSL refuses such a wildcard, so the app's name gets a
    certificate of its own (curl resolves *.localhost to loopback by itself)."""
    url = f"https://tls-flask.localhost:{port_of(server.router_https_url)}/"
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(server.ca_file), url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["scheme"] == "https"


def from_address(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


SPOOFED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def test_forwarded_headers_are_replaced_unless_from_a_trusted_proxy(
    server: CoveServer, flask_app: Path
) -> None:
    headers = {"Host": server.app_host("tls-flask"), **SPOOFED}
    with from_address("127.0.0.1") as client:
        untrusted = seen(client.get(server.router_url + "/", headers=headers))
    assert untrusted["headers"]["x-forwarded-proto"] == "http"
    # Heroku's rule: the peer's address is appended, so the rightmost entry (what
    # ProxyFix takes) is the real client.
    assert untrusted["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert (untrusted["scheme"], untrusted["remote_addr"]) == ("http", "127.0.0.1")

    with from_address(TRUSTED) as client:
        trusted = seen(client.get(server.router_url + "/", headers=headers))
    assert trusted["headers"]["x-forwarded-proto"] == "https"
    assert trusted["headers"]["x-forwarded-for"] == "203.0.113.9"
    assert (trusted["scheme"], trusted["remote_addr"]) == ("https", "203.0.113.9")


def test_git_pushes_over_https_with_the_ca_in_the_repos_own_config(
    dev: User, server: CoveServer, flask_app: Path
) -> None:
    remote = dev.git("remote", "get-url", "cove", cwd=flask_app).stdout.strip()
    assert remote == f"{server.api_url}/tls-flask.git" and remote.startswith("https://")
    key = f"http.{server.api_url}/.sslCAInfo"
    ca = dev.git("config", "--local", "--get", key, cwd=flask_app).stdout.strip()
    assert Path(ca).read_text() == server.ca_file.read_text()
    # Never in the user's global git config.
    globally = dev.git("config", "--global", "--get-regexp", r"^http\.", cwd=flask_app, check=False)
    assert globally.returncode == 1 and not globally.stdout
    info = dev.cove("apps:info", "-a", "tls-flask").stdout
    assert f"{server.api_url}/tls-flask.git" in info
    assert f"https://tls-flask.localhost:{port_of(server.router_https_url)}/" in info


def test_postgres_takes_sslmode_require_and_pg_commands_still_work(
    dev: User, server: CoveServer, flask_app: Path
) -> None:
    assert https(server, "tls-flask", "/db").json()["ssl"] is True
    psql = dev.cove(
        "pg:psql",
        "-a",
        "tls-flask",
        "-c",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    assert " t" in psql.stdout, psql.stdout
    dev.cove("pg:backups:capture", "-a", "tls-flask")
    assert "b001" in dev.cove("pg:backups", "-a", "tls-flask").stdout


def test_django_ssl_redirect_lands_on_the_https_listener(dev: User, server: CoveServer) -> None:
    repo = dev.new_repo("django-ssl")
    dev.cove("apps:create", "django-ssl", cwd=repo)
    dev.push(repo)
    https_port = port_of(server.router_https_url)
    secure = https(server, "django-ssl")
    assert (secure.status_code, secure.text) == (
        200,
        f"secure=True host=django-ssl.localhost:{https_port}",
    )
    # Plain HTTP on the router's HTTP port: Django redirects to https on the same host and
    # port, which speaks no TLS; the router points the redirect at its HTTPS port.
    http_port = port_of(server.router_url)
    plain = httpx.get(
        f"{server.router_url}/?page=2",
        headers={"Host": f"django-ssl.localhost:{http_port}"},
        timeout=30,
    )
    assert plain.status_code == 301
    location = plain.headers["location"]
    assert location == f"https://django-ssl.localhost:{https_port}/?page=2"
    # ... a URL Cove serves: the same answer as above.
    target = urlsplit(location)
    landed = get_with_sni(
        server.ca_file,
        f"https://127.0.0.1:{target.port}{target.path}?{target.query}",
        target.netloc,
        target.hostname or "",
    )
    assert (landed.status_code, landed.text) == (200, secure.text)


def test_certs_ca_prints_the_ca_and_how_to_trust_it(dev: User, server: CoveServer) -> None:
    pem = server.ca_file.read_text()
    out = dev.cove("certs:ca").stdout
    assert fingerprint(pem.encode()) in out
    for expected in ("curl --cacert ", ".sslCAInfo ", "SSL_CERT_FILE=", "NODE_EXTRA_CA_CERTS="):
        assert expected in out, out
    assert dev.cove("certs:ca", "--pem").stdout == pem
    # The bundle it names for Python holds Cove's CA and the system's.
    bundle = out.split("SSL_CERT_FILE=")[1].split()[0]
    python = subprocess.run(
        ["python3", "-c", "import ssl; print(len(ssl.create_default_context().get_ca_certs()))"],
        env={"SSL_CERT_FILE": bundle, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(python.stdout) > 1


def test_login_from_another_machine_confirms_the_cas_fingerprint(
    server: CoveServer, tmp_path: Path
) -> None:
    """No COVE_HOME to find the CA in: the CLI fetches it and trusts it only once its
    fingerprint is confirmed."""
    elsewhere = User(tmp_path / "laptop", server)
    elsewhere.home.mkdir()
    away = {"COVE_HOME": str(tmp_path / "no-cove-here")}
    token = server.admin_token

    def cove(*args: str) -> subprocess.CompletedProcess[str]:
        return elsewhere.run(sys.executable, "-m", "cove.cli.main", *args, env=away, check=False)

    def login(*args: str) -> subprocess.CompletedProcess[str]:
        return cove("login", "--token", token, *args)

    expected = fingerprint(server.ca_file.read_bytes())
    refused = login()
    assert refused.returncode == 1
    assert expected in refused.stderr and "--ca-fingerprint" in refused.stderr
    assert not (elsewhere.home / ".netrc").exists()  # the token went nowhere
    wrong = login("--ca-fingerprint", "AB" * 32)
    assert wrong.returncode == 1 and "Not trusting it" in wrong.stderr
    other = tls.TlsFiles(tmp_path / "other-ca")
    tls.ensure_ca(other)
    not_its_ca = login("--ca", str(other.ca_cert))
    assert not_its_ca.returncode == 1 and "not signed by" in not_its_ca.stderr
    missing = login("--ca", str(tmp_path / "nowhere.pem"))
    assert missing.returncode != 0 and "nowhere.pem" in missing.stderr
    assert not (elsewhere.home / ".netrc").exists()
    assert login("--ca-fingerprint", expected).returncode == 0
    whoami = cove("auth:whoami")
    assert whoami.stdout.strip() == "admin@cove.local", whoami.stderr
    # The server's CA changed (say, a new COVE_HOME): the CLI says so, not "is it running?".
    stored = elsewhere.home / ".config" / "cove" / "ca" / f"127.0.0.1_{port_of(server.api_url)}.pem"
    stored.write_text(other.ca_cert.read_text())
    stale = cove("auth:whoami")
    assert stale.returncode == 1 and "doesn't trust" in stale.stderr, stale.stderr
    assert "cove login" in stale.stderr and "Is the server running" not in stale.stderr


def test_tls_handshakes_count_against_the_caps_and_the_head_deadline(
    server: CoveServer, flask_app: Path
) -> None:
    """Connections that start a TLS handshake and stall: over the per-address cap they
    are refused at once; the others are closed at the header timeout."""
    n = PER_ADDRESS + 10
    slow = SlowClients(port_of(server.router_https_url), "127.0.0.6", n, tls=True)
    try:
        wait_for(lambda: slow.refused_at_least(10), 20, what="connections over the cap refused")
        assert https(server, "tls-flask").status_code == 200  # others are served meanwhile
        wait_for(lambda: slow.check() == 0, HEADER_TIMEOUT + 20, what="the header timeout")
        assert slow.fins == PER_ADDRESS, slow
    finally:
        slow.close()
    # A handshake that completes leaves the rest of the deadline for the head.
    with (
        socket.create_connection(("127.0.0.1", port_of(server.router_https_url))) as tcp,
        ca_context(server).wrap_socket(tcp, server_hostname="127.0.0.1") as s,
    ):
        s.settimeout(HEADER_TIMEOUT + 20)
        s.sendall(b"GET / HTTP/1.1\r\nHost: tls-flask.localhost\r\n")  # never finished
        with contextlib.suppress(ssl.SSLEOFError):  # (closed without TLS's goodbye)
            assert s.recv(1) == b""  # closed


def test_tls_off_serves_plain_http_only(tmp_path: Path) -> None:
    with running_server(tmp_path, COVE_TLS="off") as plain:
        assert plain.api_url.startswith("http://")
        assert plain.info["router_https_port"] is None and plain.info["ca_file"] is None
        assert plain.api("GET", "/account").status_code == 200
        assert plain.api("GET", "/ca.pem").status_code == 404
        assert not (plain.home / "tls").exists()


def test_an_operators_certificate_answers_its_names_and_coves_the_rest(tmp_path: Path) -> None:
    theirs = tls.TlsFiles(tmp_path / "operator")
    tls.issue(tls.ensure_ca(theirs), ["cove.test"], theirs.cert, theirs.key)
    with running_server(
        tmp_path,
        COVE_TLS_CERT_FILE=str(theirs.cert),
        COVE_TLS_KEY_FILE=str(theirs.key),
    ) as srv:
        port = port_of(srv.api_url)
        url = f"https://127.0.0.1:{port}/ca.pem"
        # The name it covers: the operator's certificate (its CA verifies it).
        named = get_with_sni(theirs.ca_cert, url, f"cove.test:{port}", "cove.test")
        assert named.status_code == 200 and named.text == srv.ca_file.read_text()
        # An IP address (the git hook's, a local client's): Cove's own.
        assert srv.api("GET", "/account").status_code == 200
        with pytest.raises(httpx.ConnectError):
            get_with_sni(theirs.ca_cert, url, f"localhost:{port}", "localhost")
