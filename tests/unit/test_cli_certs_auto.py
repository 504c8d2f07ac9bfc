"""certs:auto, certs:auto:enable, certs:auto:disable, certs:auto:refresh against a fake
API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.cli_env import FakeApi, isolate_cli

ACM = "/apps/shop/acm"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


def app(acm: bool) -> dict[str, Any]:
    return {"id": "app-id", "name": "shop", "acm": acm}


def domain(hostname: str, status: str | None, reason: str | None = None) -> dict[str, Any]:
    return {
        "id": f"id-{hostname}",
        "hostname": hostname,
        "kind": "custom",
        "cname": "shop.localhost",
        "status": "succeeded",
        "acm_status": status,
        "acm_status_reason": reason,
        "sni_endpoint": None,
        "app": {"id": "app-id", "name": "shop"},
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    }


DEFAULT = {**domain("shop.localhost", None), "kind": "heroku"}


def test_status_table_per_custom_domain() -> None:
    api = FakeApi(
        {
            ("GET", "/apps/shop"): app(True),
            ("GET", "/apps/shop/domains"): [
                DEFAULT,
                domain("www.shop.test", "cert issued"),
                domain("api.shop.test", "pending"),
            ],
        }
    )
    result = api.run(["certs:auto", "-a", "shop"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "=== Automatic Certificate Management is enabled on shop"
    assert lines[2].split() == ["Domain", "Status", "Last", "Updated"]
    assert lines[3].split()[:3] == ["www.shop.test", "Cert", "issued"]
    assert lines[4].split()[:3] == ["api.shop.test", "In", "progress"]
    assert "shop.localhost" not in result.output  # the default domain isn't ACM's
    assert "Reason" not in result.output


def test_failing_domains_show_their_reason_and_a_hint() -> None:
    api = FakeApi(
        {
            ("GET", "/apps/shop"): app(True),
            ("GET", "/apps/shop/domains"): [
                domain("www.shop.test", "failing", "The ACME directory can't be reached.")
            ],
        }
    )
    result = api.run(["certs:auto", "-a", "shop"])
    assert result.exit_code == 0, result.output
    assert "Reason" in result.output and "Failing" in result.output
    assert "The ACME directory can't be reached." in result.output
    assert "Some domains are failing validation" in result.output


def test_status_when_disabled_or_without_domains() -> None:
    off = FakeApi({("GET", "/apps/shop"): app(False)})
    result = off.run(["certs:auto", "-a", "shop"])
    assert result.output == "=== Automatic Certificate Management is disabled on shop\n\n"
    bare = FakeApi({("GET", "/apps/shop"): app(True), ("GET", "/apps/shop/domains"): [DEFAULT]})
    result = bare.run(["certs:auto", "-a", "shop"])
    assert "Add a custom domain to your app by running: cove domains:add" in result.output


def test_enable_disable_refresh_call_the_acm_endpoint() -> None:
    api = FakeApi(
        {
            ("POST", ACM): app(True),
            ("DELETE", ACM): app(False),
            ("PATCH", ACM): app(True),
        }
    )
    enabled = api.run(["certs:auto:enable", "-a", "shop"])
    assert enabled.exit_code == 0, enabled.output
    assert "Enabling Automatic Certificate Management... done, starting" in enabled.output
    assert api.run(["certs:auto:refresh", "-a", "shop"]).exit_code == 0
    refused = api.run(["certs:auto:disable", "-a", "shop"])
    assert refused.exit_code == 1 and "--confirm shop" in refused.output
    assert api.run(["certs:auto:disable", "-a", "shop", "--confirm", "shop"]).exit_code == 0
    assert api.paths() == [("POST", ACM), ("PATCH", ACM), ("DELETE", ACM)]


def test_api_errors_are_shown() -> None:
    not_enabled = httpx.Response(
        422,
        json={
            "id": "invalid_params",
            "message": "Automatic Certificate Management is not enabled on this app.",
        },
    )
    api = FakeApi({("PATCH", ACM): not_enabled})
    result = api.run(["certs:auto:refresh", "-a", "shop"])
    assert result.exit_code == 1 and "is not enabled on this app" in result.output
    unknown = FakeApi().run(["certs:auto:enable", "-a", "nope"])
    assert unknown.exit_code == 1 and "Couldn't find" in unknown.output
