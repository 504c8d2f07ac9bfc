"""`cove certs:ca` and where the CLI finds a server's CA (cove.cli.trust), offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cove import tls
from cove.cli import trust
from cove.cli.git import set_remote
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli, server_ca

API = "https://127.0.0.1:5055"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    isolate_cli(monkeypatch, home)
    monkeypatch.setenv("COVE_HOME", str(tmp_path / "server-home"))
    monkeypatch.setenv("COVE_API_URL", API)
    return home


def certs_ca(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["certs:ca", *args])
    return result.exit_code, result.output


def test_certs_ca_needs_tls(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_API_URL", "http://127.0.0.1:5055")
    code, out = certs_ca()
    assert code == 1 and "doesn't use TLS" in out


def test_certs_ca_without_a_known_ca_says_how_to_get_one(home: Path) -> None:
    code, out = certs_ca()
    assert code == 1 and "No Cove CA is known for https://127.0.0.1:5055" in out
    assert "cove login" in out


def test_certs_ca_prints_the_local_servers_ca_and_the_commands(home: Path) -> None:
    ca = server_ca(home)
    code, out = certs_ca()
    assert code == 0, out
    assert f"File:    {ca}" in out and tls.fingerprint(ca.read_bytes()) in out
    assert f"curl --cacert {ca}" in out
    assert f"git config http.{API}/.sslCAInfo {ca}" in out
    assert f"NODE_EXTRA_CA_CERTS={ca}" in out
    bundle = Path(out.split("SSL_CERT_FILE=")[1].split()[0])
    assert bundle.read_text().endswith(ca.read_text())
    assert bundle.read_text().count("BEGIN CERTIFICATE") > 1  # the system's too
    assert certs_ca("--pem") == (0, ca.read_text())


def test_the_ca_stored_at_login_comes_first(home: Path) -> None:
    server_ca(home)
    stored = trust.stored_ca(API)
    assert stored == home / ".config" / "cove" / "ca" / "127.0.0.1_5055.pem"
    other = tls.TlsFiles(home / "other")
    tls.ensure_ca(other)
    stored.parent.mkdir(parents=True)
    stored.write_text(other.ca_cert.read_text())
    assert trust.ca_for(API) == stored
    assert trust.known_cas("http://127.0.0.1:5055") == []


def test_an_https_remote_gets_the_ca_in_the_repos_config_only(home: Path) -> None:
    ca = server_ca(home)
    repo = home / "app"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    set_remote("cove", f"{API}/shop.git", repo)
    got = subprocess.run(
        ["git", "config", "--local", "--get", f"http.{API}/.sslCAInfo"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert got.stdout.strip() == str(ca)
    assert not (home / ".gitconfig").exists()
    # A plain http remote needs nothing.
    other = home / "plain"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    set_remote("cove", "http://127.0.0.1:5055/shop.git", other)
    assert "sslCAInfo" not in (other / ".git" / "config").read_text()


def test_git_ssl_cainfo_in_the_environment_is_called_out(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = server_ca(home)
    repo = home / "app"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.delenv("GIT_SSL_CAINFO", raising=False)
    set_remote("cove", f"{API}/shop.git", repo)
    assert "GIT_SSL_CAINFO" not in capsys.readouterr().err
    # git lets this variable override the repository's config: the push would fail.
    monkeypatch.setenv("GIT_SSL_CAINFO", "/etc/ssl/certs/ca-certificates.crt")
    set_remote("cove", f"{API}/shop.git", repo)
    err = capsys.readouterr().err
    assert "GIT_SSL_CAINFO is set in your environment" in err
    assert f"{API} will fail certificate verification" in err and str(ca) in err
