"""pipelines:create, pipelines:info and pipelines:promote against a fake API: the requests
the Heroku CLI makes, and its output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli_env import FakeApi, created, isolate_cli

PIPELINE = {"id": "11111111-0000-4000-8000-000000000001", "name": "shop"}


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


def coupling(app: str, stage: str) -> dict[str, Any]:
    return {
        "id": f"c-{app}",
        "app": {"id": f"id-{app}", "name": app},
        "pipeline": PIPELINE,
        "stage": stage,
    }


def shop_api(routes: dict[tuple[str, str], Any]) -> FakeApi:
    couplings = [
        coupling("shop", "production"),
        coupling("shop-eu", "production"),
        coupling("shop-staging", "staging"),
        coupling("shop-dev", "development"),
    ]
    apps = [{"id": c["app"]["id"], "name": c["app"]["name"]} for c in couplings]
    return FakeApi(
        {
            ("GET", "/apps/shop-staging/pipeline-couplings"): couplings[2],
            ("GET", f"/pipelines/{PIPELINE['id']}/pipeline-couplings"): couplings,
            ("POST", "/filters/apps"): apps,
            ("GET", "/pipelines"): [PIPELINE],
            ("GET", "/account"): {"id": "me", "email": "dev@example.com"},
            **routes,
        }
    )


def test_create_guesses_name_and_stage_from_the_app() -> None:
    api = FakeApi(
        {
            ("POST", "/pipelines"): created(PIPELINE),
            ("POST", "/pipeline-couplings"): created(coupling("shop-staging", "staging")),
        }
    )
    result = api.run(["pipelines:create", "-a", "shop-staging"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Creating shop pipeline... done\n"
        "Adding ⬢ shop-staging to shop pipeline as staging... done\n"
    )
    assert api.calls() == [
        ("POST", "/pipelines", {"name": "shop"}),
        (
            "POST",
            "/pipeline-couplings",
            {"app": "shop-staging", "pipeline": PIPELINE["id"], "stage": "staging"},
        ),
    ]


def test_info_lists_apps_by_stage_then_name() -> None:
    result = shop_api({}).run(["pipelines:info", "shop"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== shop",
        "",
        "owner: dev@example.com",
        "",
        "app name      stage",
        "────────────  ───────────",
        "shop-dev      development",
        "shop-staging  staging",
        "shop          production",
        "shop-eu       production",
    ]


def test_promote_targets_the_next_stage_and_reports_each_result() -> None:
    targets = [
        {
            "id": "t1",
            "app": {"id": "id-shop"},
            "status": "succeeded",
            "error_message": None,
            "release": {"id": "r1"},
            "pipeline_promotion": {"id": "p1"},
        },
        {
            "id": "t2",
            "app": {"id": "id-shop-eu"},
            "status": "failed",
            "error_message": "The release command of v4 failed: shop-eu keeps running its current "
            "release.",
            "release": {"id": "r2"},
            "pipeline_promotion": {"id": "p1"},
        },
    ]
    api = shop_api(
        {
            ("POST", "/pipeline-promotions"): created({"id": "p1"}),
            ("GET", "/pipeline-promotions/p1/promotion-targets"): targets,
            ("GET", "/apps/id-shop/releases/r1"): {"version": 7, "output_stream_url": None},
            ("GET", "/apps/id-shop-eu/releases/r2"): {"version": 4, "output_stream_url": None},
            ("GET", "/apps/shop/releases/r1"): {"version": 7},
            ("GET", "/apps/shop-eu/releases/r2"): {"version": 4},
        }
    )
    result = api.run(["pipelines:promote", "-a", "shop-staging"])
    assert result.exit_code == 1
    assert result.stdout == (
        "Fetching app info...\n"
        "Fetching apps from shop...\n"
        "Starting promotion to production...\n"
        "Waiting for promotion to complete...\n"
        "Promoting shop-staging to shop (production)... done, v7\n"
        "Promoting shop-staging to shop-eu (production)... failed\n"
        "\n"
        "shop:    succeeded\n"
        "shop-eu: failed\n"
        "         The release command of v4 failed: shop-eu keeps running its current release.\n"
    )
    assert "Promotion to some apps failed" in result.stderr
    promotion = next(body for method, path, body in api.calls() if path == "/pipeline-promotions")
    assert promotion == {
        "pipeline": {"id": PIPELINE["id"]},
        "source": {"app": {"id": "id-shop-staging"}},
        "targets": [{"app": {"id": "id-shop"}}, {"app": {"id": "id-shop-eu"}}],
    }


def test_promote_to_names_apps_of_any_stage() -> None:
    targets = [
        {
            "id": "t1",
            "app": {"id": "id-shop-dev"},
            "status": "succeeded",
            "error_message": None,
            "release": None,
            "pipeline_promotion": {"id": "p1"},
        },
    ]
    api = shop_api(
        {
            ("POST", "/pipeline-promotions"): created({"id": "p1"}),
            ("GET", "/pipeline-promotions/p1/promotion-targets"): targets,
        }
    )
    result = api.run(["pipelines:promote", "-a", "shop-staging", "--to", "shop-dev,"])
    assert result.exit_code == 0, result.output
    assert "Starting promotion to apps: shop-dev...\n" in result.stdout
    assert "Promotion successful\nshop-dev: succeeded\n" in result.stdout
