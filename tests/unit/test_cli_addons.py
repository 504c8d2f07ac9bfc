"""addons, addons:create, addons:info, addons:destroy, addons:attach, addons:detach."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from cove.cli.addons import parse_config_flags
from tests.unit.cli_env import FakeApi, cli_in_utc, created

OLD = "2020-04-05T17:44:47Z"  # > 25h ago: format_time shows no relative part


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_in_utc(monkeypatch, tmp_path):
        yield


def addon_json(
    name: str = "postgresql-curly-12345",
    *,
    service: str = "heroku-postgresql",
    plan: str = "essential-0",
    owner: str = "my-app",
    state: str = "provisioned",
    config_vars: list[str] | None = None,
    cents: int = 0,
) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "app": {"id": f"id-{owner}", "name": owner},
        "addon_service": {"id": f"id-{service}", "name": service},
        "plan": {
            "id": f"id-{plan}",
            "name": f"{service}:{plan}",
            "price": {"cents": cents, "unit": "month"},
        },
        "state": state,
        "config_vars": ["DATABASE_URL"] if config_vars is None else config_vars,
        "provision_message": None,
        "billed_price": None,
        "web_url": None,
        "created_at": OLD,
        "updated_at": OLD,
    }


def attachment_json(name: str, addon: dict[str, Any], app: str = "my-app") -> dict[str, Any]:
    return {
        "id": f"att-{app}-{name}",
        "name": name,
        "addon": {"id": addon["id"], "name": addon["name"], "app": addon["app"]},
        "app": {"id": f"id-{app}", "name": app},
        "namespace": None,
        "web_url": None,
        "created_at": OLD,
        "updated_at": OLD,
    }


# -- addons -----------------------------------------------------------------------------------


def test_addons_lists_the_apps_addons_with_their_attachments() -> None:
    pg = addon_json()
    shared = addon_json("redis-amber-54321", service="heroku-redis", plan="mini", owner="other")
    foreign = addon_json("postgresql-round-11111", owner="other")  # not on my-app: not listed
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addons"): [shared, pg],
            ("GET", "/addon-attachments"): [
                attachment_json("HEROKU_POSTGRESQL_RED", pg, app="staging"),
                attachment_json("DATABASE", pg),
                attachment_json("REDIS", shared, app="other"),
                attachment_json("CACHE", shared),
                attachment_json("DATABASE", foreign, app="other"),
            ],
        }
    )
    result = api.run(["addons", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Add-on                                      Plan         Price                  State",
        "──────────────────────────────────────────  ───────────  ─────────────────────  ───────",
        "heroku-postgresql (postgresql-curly-12345)  essential-0  free                   created",
        " └─ as DATABASE",
        " └─ as staging::HEROKU_POSTGRESQL_RED",
        "heroku-redis (redis-amber-54321)            mini         (billed to other app)  created",
        " └─ as CACHE",
        " └─ as other::REDIS",
    ]
    assert [(m, p) for m, p, _ in api.calls()] == [
        ("GET", "/apps/my-app/addons"),
        ("GET", "/addon-attachments"),
    ]


def test_addons_shows_paid_prices_and_states() -> None:
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addons"): [
                addon_json(plan="essential-1", cents=900, state="provisioning"),
            ],
            ("GET", "/addon-attachments"): [],
        }
    )
    result = api.run(["addons", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].split() == [
        "heroku-postgresql",
        "(postgresql-curly-12345)",
        "essential-1",
        "$9/month",
        "creating",
    ]


def test_addons_for_an_app_without_addons() -> None:
    api = FakeApi({("GET", "/apps/my-app/addons"): []})
    result = api.run(["addons", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "No add-ons for app my-app.\n"


@pytest.mark.parametrize("args", [["addons", "--all", "-a", "my-app"], ["addons"]])
def test_addons_all_lists_every_apps_addons(args: list[str]) -> None:
    api = FakeApi(
        {
            ("GET", "/addons"): [
                addon_json("redis-amber-54321", service="heroku-redis", plan="mini", owner="zeta"),
                addon_json(),
            ],
        }
    )
    result = api.run(args)  # no app given (and no git remote): all add-ons too
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Owning App  Add-on                  Plan                           Price  State",
        "──────────  ──────────────────────  ─────────────────────────────  ─────  ───────",
        "my-app      postgresql-curly-12345  heroku-postgresql:essential-0  free   created",
        "zeta        redis-amber-54321       heroku-redis:mini              free   created",
    ]
    assert [(m, p) for m, p, _ in api.calls()] == [("GET", "/addons")]


def test_addons_json_prints_the_list() -> None:
    api = FakeApi({("GET", "/apps/my-app/addons"): [addon_json()]})
    result = api.run(["addons", "-a", "my-app", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [addon_json()]


# -- addons:create ------------------------------------------------------------------------------


def test_create_posts_the_plan_and_reports_the_config_var() -> None:
    api = FakeApi({("POST", "/apps/my-app/addons"): created(addon_json())})
    result = api.run(["addons:create", "heroku-postgresql:essential-0", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Creating heroku-postgresql:essential-0 on ⬢ my-app... done",
        "Created postgresql-curly-12345 as DATABASE_URL",
    ]
    assert api.calls() == [
        ("POST", "/apps/my-app/addons", {"plan": "heroku-postgresql:essential-0"})
    ]


def test_add_alias_sends_name_attachment_and_extra_config_flags() -> None:
    redis = addon_json("my-cache", service="heroku-redis", plan="mini", config_vars=["CACHE_URL"])
    redis["provision_message"] = "Ready in a moment."
    api = FakeApi({("POST", "/apps/my-app/addons"): created(redis)})
    result = api.run(
        [
            "addons:add",
            "heroku-redis",
            "-a",
            "my-app",
            "--as",
            "CACHE",
            "--name",
            "my-cache",
            "--",
            "--version",
            "7",
            "--tls",
            "--maxmemory=noeviction",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Creating heroku-redis on ⬢ my-app... done",
        "Ready in a moment.",
        "Created my-cache as CACHE_URL",
    ]
    assert api.calls() == [
        (
            "POST",
            "/apps/my-app/addons",
            {
                "plan": "heroku-redis",
                "name": "my-cache",
                "attachment": {"name": "CACHE"},
                "config": {"version": "7", "tls": True, "maxmemory": "noeviction"},
            },
        )
    ]


def test_create_error_marks_the_action_failed() -> None:
    api = FakeApi(
        {
            ("POST", "/apps/my-app/addons"): httpx.Response(
                422,
                json={
                    "id": "invalid_params",
                    "message": "Unknown service heroku-mysql. Use heroku-postgresql or "
                    "heroku-redis.",
                },
            )
        }
    )
    result = api.run(["addons:create", "heroku-mysql", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stdout == "Creating heroku-mysql on ⬢ my-app... !\n"
    assert result.stderr == (
        " ▸    Unknown service heroku-mysql. Use heroku-postgresql or heroku-redis.\n"
        " ▸    Error ID: invalid_params\n"
    )


def test_create_needs_an_app() -> None:
    api = FakeApi()
    result = api.run(["addons:create", "heroku-postgresql"])
    assert result.exit_code == 1
    assert "No app specified" in result.stderr
    assert api.requests == []


def test_create_wait_polls_until_provisioned(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("cove.cli.addons.time.sleep", sleeps.append)
    states = iter(["provisioning", "provisioned"])
    api = FakeApi(
        {
            ("POST", "/apps/my-app/addons"): created(addon_json(state="provisioning")),
            ("GET", "/apps/my-app/addons/id-postgresql-curly-12345"): (
                lambda request: httpx.Response(200, json=addon_json(state=next(states)))
            ),
        }
    )
    result = api.run(["addons:create", "heroku-postgresql", "-a", "my-app", "--wait"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Creating heroku-postgresql on ⬢ my-app... done",
        "Waiting for postgresql-curly-12345... done",
        "Created postgresql-curly-12345 as DATABASE_URL",
    ]
    assert len(sleeps) == 2
    assert [p for _, p, _ in api.calls()].count(
        "/apps/my-app/addons/id-postgresql-curly-12345"
    ) == 2


def test_create_without_wait_reports_background_provisioning() -> None:
    api = FakeApi({("POST", "/apps/my-app/addons"): created(addon_json(state="provisioning"))})
    result = api.run(["addons:create", "heroku-postgresql", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "postgresql-curly-12345 is being created in the background" in lines[1]
    assert not any(line.startswith("Created ") for line in lines)
    assert len(api.requests) == 1


def test_parse_config_flags() -> None:
    assert parse_config_flags([]) == {}
    assert parse_config_flags(["--fork", "DATABASE", "--fast", "--version=16"]) == {
        "fork": "DATABASE",
        "fast": True,
        "version": "16",
    }
    with pytest.raises(click.UsageError):
        parse_config_flags(["stray"])


def test_create_rejects_a_stray_argument() -> None:
    api = FakeApi()
    result = api.run(["addons:create", "heroku-postgresql", "oops", "-a", "my-app"])
    assert result.exit_code == 2
    assert "oops" in result.stderr
    assert api.requests == []


# -- addons:info ------------------------------------------------------------------------------


def test_info_shows_owner_plan_state_and_attachments() -> None:
    pg = addon_json()
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addons/DATABASE_URL"): pg,
            ("GET", "/addon-attachments"): [
                attachment_json("DATABASE", pg),
                attachment_json("HEROKU_POSTGRESQL_RED", pg, app="staging"),
                attachment_json("OTHER", addon_json("postgresql-other-1")),
            ],
        }
    )
    result = api.run(["addons:info", "DATABASE_URL", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== postgresql-curly-12345",
        "",
        "Attachments:  my-app::DATABASE, staging::HEROKU_POSTGRESQL_RED",
        "Installed at: 2020/04/05 17:44:47 +0000",
        "Owning app:   my-app",
        "Plan:         heroku-postgresql:essential-0",
        "Price:        free",
        "State:        created",
    ]


def test_info_without_an_app_looks_the_addon_up_globally() -> None:
    api = FakeApi(
        {
            ("GET", "/addons/postgresql-curly-12345"): addon_json(),
            ("GET", "/addon-attachments"): [],
        }
    )
    result = api.run(["addons:info", "postgresql-curly-12345"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "=== postgresql-curly-12345"
    assert api.calls()[0] == ("GET", "/addons/postgresql-curly-12345", None)


def test_info_unknown_addon_prints_the_api_error() -> None:
    api = FakeApi()
    result = api.run(["addons:info", "nope", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stderr == " ▸    Couldn't find that add-on.\n ▸    Error ID: not_found\n"


# -- addons:destroy ---------------------------------------------------------------------------


def test_destroy_refuses_without_a_matching_confirm() -> None:
    api = FakeApi({("GET", "/apps/my-app/addons/DATABASE_URL"): addon_json()})
    result = api.run(["addons:destroy", "DATABASE_URL", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "WARNING: Destructive action" in result.stderr
    assert "--confirm my-app" in result.stderr
    result = api.run(["addons:destroy", "DATABASE_URL", "-a", "my-app", "--confirm", "other"])
    assert result.exit_code == 1
    assert result.stderr == " ▸    Confirmation other did not match my-app. Aborted.\n"
    assert api.requests == []


def test_destroy_deletes_the_addon_by_id() -> None:
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addons/DATABASE_URL"): addon_json(),
            ("DELETE", "/apps/my-app/addons/id-postgresql-curly-12345"): addon_json(
                state="deprovisioned"
            ),
        }
    )
    result = api.run(["addons:remove", "DATABASE_URL", "-a", "my-app", "--confirm", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Destroying postgresql-curly-12345 on ⬢ my-app... done\n"
    assert [(m, p) for m, p, _ in api.calls()] == [
        ("GET", "/apps/my-app/addons/DATABASE_URL"),
        ("DELETE", "/apps/my-app/addons/id-postgresql-curly-12345"),
    ]


def test_destroy_refuses_an_addon_owned_by_another_app() -> None:
    api = FakeApi({("GET", "/apps/my-app/addons/DATABASE"): addon_json(owner="other")})
    result = api.run(["addons:destroy", "DATABASE", "-a", "my-app", "-c", "my-app"])
    assert result.exit_code == 1
    assert "owned by ⬢ other, not ⬢ my-app" in result.stderr
    assert "addons:detach" in result.stderr
    assert [r.method for r in api.requests] == ["GET"]


# -- addons:attach / addons:detach ------------------------------------------------------------


def test_attach_posts_the_attachment_and_reports_the_release() -> None:
    pg = addon_json(owner="other")
    api = FakeApi(
        {
            ("POST", "/addon-attachments"): created(attachment_json("SHARED_DB", pg)),
            ("GET", "/apps/my-app/releases"): [{"version": 7}],
        }
    )
    result = api.run(
        ["addons:attach", "postgresql-curly-12345", "--as", "SHARED_DB", "-a", "my-app"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Attaching postgresql-curly-12345 as SHARED_DB to ⬢ my-app... done",
        "Setting SHARED_DB config vars and restarting ⬢ my-app... done, v7",
    ]
    assert api.calls()[0] == (
        "POST",
        "/addon-attachments",
        {"addon": "postgresql-curly-12345", "app": "my-app", "name": "SHARED_DB"},
    )
    assert api.requests[1].headers["Range"] == "version ..; max=1, order=desc"


def test_attach_without_as_uses_the_servers_name() -> None:
    pg = addon_json(owner="other")
    api = FakeApi(
        {
            ("POST", "/addon-attachments"): created(attachment_json("HEROKU_POSTGRESQL_RED", pg)),
            ("GET", "/apps/my-app/releases"): [{"version": 3}],
        }
    )
    result = api.run(["addons:attach", "postgresql-curly-12345", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Attaching postgresql-curly-12345 to ⬢ my-app... done",
        "Setting HEROKU_POSTGRESQL_RED config vars and restarting ⬢ my-app... done, v3",
    ]
    assert api.calls()[0][2] == {"addon": "postgresql-curly-12345", "app": "my-app"}


def test_detach_finds_the_attachment_and_deletes_it() -> None:
    pg = addon_json()
    att = attachment_json("DATABASE", pg)
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addon-attachments"): [att],
            ("DELETE", f"/apps/my-app/addon-attachments/{att['id']}"): att,
            ("GET", "/apps/my-app/releases"): [{"version": 9}],
        }
    )
    result = api.run(["addons:detach", "DATABASE_URL", "-a", "my-app"])  # the var works too
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Detaching DATABASE to postgresql-curly-12345 from ⬢ my-app... done",
        "Unsetting DATABASE config vars and restarting ⬢ my-app... done, v9",
    ]
    assert [(m, p) for m, p, _ in api.calls()] == [
        ("GET", "/apps/my-app/addon-attachments"),
        ("DELETE", f"/apps/my-app/addon-attachments/{att['id']}"),
        ("GET", "/apps/my-app/releases"),
    ]


def test_detach_by_addon_name_when_attached_once() -> None:
    pg = addon_json(owner="other")
    att = attachment_json("HEROKU_POSTGRESQL_RED", pg)
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addon-attachments"): [
                attachment_json("DATABASE", addon_json("postgresql-mine-1")),
                att,
            ],
            ("DELETE", f"/apps/my-app/addon-attachments/{att['id']}"): att,
            ("GET", "/apps/my-app/releases"): [],
        }
    )
    result = api.run(["addons:detach", "postgresql-curly-12345", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Detaching HEROKU_POSTGRESQL_RED to postgresql-curly-12345 from ⬢ my-app... done",
        "Unsetting HEROKU_POSTGRESQL_RED config vars and restarting ⬢ my-app... done",
    ]
    assert api.calls()[1] == ("DELETE", f"/apps/my-app/addon-attachments/{att['id']}", None)


def test_detach_by_addon_name_attached_twice_is_ambiguous() -> None:
    pg = addon_json(owner="other")
    api = FakeApi(
        {
            ("GET", "/apps/my-app/addon-attachments"): [
                attachment_json("SHARED", pg),
                attachment_json("HEROKU_POSTGRESQL_RED", pg),
            ]
        }
    )
    result = api.run(["addons:detach", "postgresql-curly-12345", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stderr == (
        " ▸    postgresql-curly-12345 is attached more than once "
        "(HEROKU_POSTGRESQL_RED, SHARED): name the attachment.\n"
    )
    assert [r.method for r in api.requests] == ["GET"]


def test_detach_unknown_attachment_reports_the_servers_error() -> None:
    api = FakeApi({("GET", "/apps/my-app/addon-attachments"): []})
    result = api.run(["addons:detach", "NOPE", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stdout == "Detaching NOPE from ⬢ my-app... !\n"
    assert "Couldn't find that add-on." in result.stderr
    assert api.calls()[-1] == ("DELETE", "/apps/my-app/addon-attachments/NOPE", None)
