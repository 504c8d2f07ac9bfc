"""pg:info, pg:psql, pg:credentials, pg:reset, pg:backups*, pg:copy, redis:info, redis:cli."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cove.cli.pg import backup_and_database
from tests.unit.cli_env import FakeApi, created, isolate_cli

PG_URL = "postgres://u_abc:s3cr%40t@127.0.0.1:5433/d_abc"
REDIS_URL = "rediss://:r3dis@127.0.0.1:6380"
APP = "/apps/my-app"
DB = f"{APP}/addons/DATABASE_URL"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(monkeypatch, tmp_path)


def addon_json(
    name: str = "postgresql-curly-12345", service: str = "heroku-postgresql", owner: str = "my-app"
) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "app": {"id": f"id-{owner}", "name": owner},
        "addon_service": {"id": "s", "name": service},
        "plan": {"id": "p", "name": f"{service}:essential-0"},
        "state": "provisioned",
        "config_vars": ["DATABASE_URL"],
        "created_at": "2026-11-21T10:00:00Z",
        "updated_at": "2026-11-21T10:00:00Z",
    }


def pg_info(**extra: Any) -> dict[str, Any]:
    return {
        "addon": {"id": "id-postgresql-curly-12345", "name": "postgresql-curly-12345"},
        "service": "heroku-postgresql",
        "plan": "heroku-postgresql:essential-0",
        "status": "Available",
        "version": "16.4",
        "data_size": 7_970_000,
        "tables": 3,
        "url_var": "DATABASE_URL",
        **extra,
    }


def credentials(url: str = PG_URL) -> dict[str, Any]:
    return {
        "url": url,
        "host": "127.0.0.1",
        "port": 5433,
        "database": "d_abc",
        "user": "u_abc",
        "password": "s3cr@t",
    }


def backup_json(
    num: int, status: str = "succeeded", created: str = "2026-11-21T10:00:00Z", size: int = 2048
) -> dict[str, Any]:
    return {
        "id": f"bk-{num}",
        "num": num,
        "name": f"b{num:03d}",
        "addon": {"id": "id-postgresql-curly-12345", "name": "postgresql-curly-12345"},
        "size": size,
        "status": status,
        "created_at": created,
    }


class Recorder:
    """Stands in for subprocess.run / os.execvpe."""

    def __init__(self, returncode: int = 0) -> None:
        self.returncode = returncode
        self.argv: list[str] = []
        self.env: dict[str, str] = {}

    def run(self, argv: list[str], env: dict[str, str], check: bool) -> Any:
        self.argv, self.env = list(argv), dict(env)
        return subprocess.CompletedProcess(argv, self.returncode)

    def execvpe(self, file: str, argv: list[str], env: dict[str, str]) -> None:
        self.argv, self.env = list(argv), dict(env)
        self.file = file


def fake_tools(
    monkeypatch: pytest.MonkeyPatch, returncode: int = 0, installed: bool = True
) -> Recorder:
    recorder = Recorder(returncode)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}" if installed else None)
    monkeypatch.setattr("subprocess.run", recorder.run)
    monkeypatch.setattr("os.execvpe", recorder.execvpe)
    return recorder


# -- pg:info --------------------------------------------------------------------------------


def test_info_defaults_to_database_url_and_aligns_fields() -> None:
    api = FakeApi({("GET", f"{DB}/info"): pg_info(connections=2)})
    result = api.run(["pg:info", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== DATABASE_URL",
        "",
        "Plan:        essential-0",
        "Status:      Available",
        "Connections: 2",
        "Data Size:   7.6 MB",
        "Tables:      3",
        "PG Version:  16.4",
        "Add-on:      postgresql-curly-12345",
    ]
    assert api.paths() == [("GET", f"{DB}/info")]


def test_info_of_another_database_uses_the_servers_var_name() -> None:
    path = f"{APP}/addons/postgresql-other-1/info"
    api = FakeApi({("GET", path): pg_info(url_var="HEROKU_POSTGRESQL_RED_URL")})
    result = api.run(["pg", "postgresql-other-1", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "=== HEROKU_POSTGRESQL_RED_URL"
    # All of the app's vars for it when the server lists them; a plain add-on name is fine too.
    api.routes[("GET", path)] = pg_info(
        addon="postgresql-other-1", attachments=["HEROKU_POSTGRESQL_RED_URL", "DATABASE_URL"]
    )
    result = api.run(["pg", "postgresql-other-1", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "=== HEROKU_POSTGRESQL_RED_URL, DATABASE_URL"
    assert lines[-1] == "Add-on:     postgresql-other-1"


def test_info_without_a_var_name_uses_the_argument() -> None:
    path = f"{APP}/addons/postgresql-other-1/info"
    api = FakeApi({("GET", path): pg_info(url_var=None)})
    result = api.run(["pg:info", "postgresql-other-1", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "=== postgresql-other-1"


def test_info_refuses_a_redis_addon() -> None:
    info = pg_info(service="heroku-redis", url_var="REDIS_URL")
    api = FakeApi({("GET", f"{APP}/addons/REDIS_URL/info"): info})
    result = api.run(["pg:info", "REDIS_URL", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stderr == " ▸    REDIS_URL is a heroku-redis add-on, not heroku-postgresql.\n"


def test_info_missing_database_prints_the_api_error() -> None:
    api = FakeApi()
    result = api.run(["pg:info", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stderr == " ▸    Couldn't find that add-on.\n ▸    Error ID: not_found\n"


# -- pg:credentials -------------------------------------------------------------------------


def test_credentials_prints_connection_string_and_url() -> None:
    api = FakeApi({("GET", f"{DB}/credentials"): credentials()})
    result = api.run(["pg:credentials", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Connection information for default credential.",
        "Connection info string:",
        '   "dbname=d_abc host=127.0.0.1 port=5433 user=u_abc password=s3cr@t"',
        "Connection URL:",
        f"   {PG_URL}",
    ]
    assert api.paths() == [("GET", f"{DB}/credentials")]


# -- pg:psql --------------------------------------------------------------------------------


def psql_api() -> FakeApi:
    return FakeApi({("GET", DB): addon_json(), ("GET", f"{DB}/credentials"): credentials()})


def test_psql_command_runs_psql_with_the_url_and_password_in_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tools = fake_tools(monkeypatch)
    api = psql_api()
    result = api.run(["pg:psql", "-a", "my-app", "-c", "select 1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # nothing added to the query's output
    assert tools.argv == ["/usr/bin/psql", "-c", "select 1", "postgres://127.0.0.1:5433/d_abc"]
    assert tools.env["PGUSER"] == "u_abc"
    assert tools.env["PGPASSWORD"] == "s3cr@t"
    assert not any("s3cr" in arg for arg in tools.argv)
    assert api.paths() == [("GET", DB), ("GET", f"{DB}/credentials")]


def test_psql_command_exit_status_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools(monkeypatch, returncode=3)
    result = psql_api().run(["pg:psql", "-a", "my-app", "-c", "select nope"])
    assert result.exit_code == 3


def test_psql_interactive_execs_psql_with_herokus_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = fake_tools(monkeypatch)
    result = psql_api().run(["pg:psql", "DATABASE_URL", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "--> Connecting to postgresql-curly-12345\n"
    assert tools.file == "/usr/bin/psql"
    assert tools.argv == [
        "/usr/bin/psql",
        "--set",
        "PROMPT1=my-app::DATABASE%R%# ",
        "--set",
        "PROMPT2=my-app::DATABASE%R%# ",
        "postgres://127.0.0.1:5433/d_abc",
    ]
    assert tools.env["PGPASSWORD"] == "s3cr@t"


def test_psql_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools(monkeypatch, installed=False)
    api = psql_api()
    result = api.run(["pg:psql", "-a", "my-app"])
    assert result.exit_code == 1
    assert "psql" in result.stderr
    assert "not installed" in result.stderr
    assert api.requests == []


def test_psql_refuses_a_redis_addon(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = fake_tools(monkeypatch)
    api = FakeApi({("GET", f"{APP}/addons/REDIS_URL"): addon_json("r", "heroku-redis")})
    result = api.run(["pg:psql", "REDIS_URL", "-a", "my-app"])
    assert result.exit_code == 1
    assert "is a heroku-redis add-on" in result.stderr
    assert tools.argv == []


# -- pg:reset -------------------------------------------------------------------------------


def test_reset_refuses_without_a_matching_confirm() -> None:
    api = FakeApi({("GET", DB): addon_json()})
    result = api.run(["pg:reset", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "WARNING: Destructive action" in result.stderr
    assert "DATABASE on ⬢ my-app will lose all its data" in result.stderr
    assert "--confirm my-app" in result.stderr
    result = api.run(["pg:reset", "-a", "my-app", "--confirm", "my-ap"])
    assert result.exit_code == 1
    assert "did not match my-app" in result.stderr
    assert api.requests == []


def test_reset_posts_the_reset_action() -> None:
    api = FakeApi({("GET", DB): addon_json(), ("POST", f"{DB}/actions/reset"): {}})
    result = api.run(["pg:reset", "DATABASE_URL", "-a", "my-app", "--confirm", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Resetting postgresql-curly-12345 on ⬢ my-app... done\n"
    assert api.paths() == [("GET", DB), ("POST", f"{DB}/actions/reset")]


# -- pg:backups -----------------------------------------------------------------------------


def test_backups_lists_every_postgres_databases_backups_newest_first() -> None:
    red = addon_json("postgresql-red-2")
    api = FakeApi(
        {
            ("GET", f"{APP}/addons"): [addon_json(), addon_json("redis-x", "heroku-redis"), red],
            ("GET", f"{APP}/addon-attachments"): [
                {"id": "a1", "name": "DATABASE", "addon": {"id": "id-postgresql-curly-12345"}},
                {"id": "a2", "name": "HEROKU_POSTGRESQL_RED", "addon": {"id": red["id"]}},
            ],
            ("GET", f"{APP}/addons/DATABASE/backups"): [
                backup_json(1, created="2026-11-20T09:00:00Z", size=1024 * 1024 * 13),
                backup_json(2, status="failed", created="2026-11-21T11:30:00Z", size=0),
            ],
            ("GET", f"{APP}/addons/HEROKU_POSTGRESQL_RED/backups"): [
                backup_json(1, created="2026-11-21T08:00:00Z", size=500)
            ],
        }
    )
    result = api.run(["pg:backups", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== Backups",
        "",
        "ID    Created at                 Status                               Size     Database",
        "────  ─────────────────────────  ───────────────────────────────────  ───────  "
        "─────────────────────",
        "b002  2026-11-21 11:30:00 +0000  Failed 2026-11-21 11:30:00 +0000     0 B      DATABASE",
        "b001  2026-11-21 08:00:00 +0000  Completed 2026-11-21 08:00:00 +0000  500 B    "
        "HEROKU_POSTGRESQL_RED",
        "b001  2026-11-20 09:00:00 +0000  Completed 2026-11-20 09:00:00 +0000  13.0 MB  DATABASE",
    ]
    # The Redis add-on's backups are not asked for.
    assert ("GET", f"{APP}/addons/redis-x/backups") not in api.paths()


def test_backups_without_any() -> None:
    api = FakeApi(
        {
            ("GET", f"{APP}/addons"): [addon_json()],
            ("GET", f"{APP}/addon-attachments"): [],
            ("GET", f"{APP}/addons/postgresql-curly-12345/backups"): [],
        }
    )
    result = api.run(["pg:backups", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].startswith("No backups.")
    assert ("GET", f"{APP}/addons/postgresql-curly-12345/backups") in api.paths()


def test_backups_capture_posts_and_names_the_backup() -> None:
    api = FakeApi({("POST", f"{DB}/backups"): created(backup_json(4))})
    result = api.run(["pg:backups:capture", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Backing up DATABASE on ⬢ my-app... done, b004",
        "Download it with cove pg:backups:download b004 -a my-app",
    ]
    assert api.paths() == [("POST", f"{DB}/backups")]


def test_backups_capture_failure_is_an_error() -> None:
    red = f"{APP}/addons/HEROKU_POSTGRESQL_RED_URL/backups"
    api = FakeApi({("POST", red): created(backup_json(4, status="failed"))})
    result = api.run(["pg:backups:capture", "HEROKU_POSTGRESQL_RED_URL", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stdout == "Backing up HEROKU_POSTGRESQL_RED on ⬢ my-app... !\n"
    assert result.stderr == " ▸    Backup b004 failed.\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((None, None), (None, "DATABASE_URL")),
        (("b012", None), ("b012", "DATABASE_URL")),
        (("HEROKU_POSTGRESQL_RED_URL", None), (None, "HEROKU_POSTGRESQL_RED_URL")),
        (("b001", "DATABASE"), ("b001", "DATABASE")),
        (
            ("0b6f3e52-1c5d-4a8e-9d55-3f1e2a7b9c10", None),
            ("0b6f3e52-1c5d-4a8e-9d55-3f1e2a7b9c10", "DATABASE_URL"),
        ),
    ],
)
def test_backup_and_database_arguments(
    args: tuple[str | None, str | None], expected: tuple[str | None, str]
) -> None:
    assert backup_and_database(*args) == expected


def test_restore_refuses_without_confirm() -> None:
    api = FakeApi({("GET", f"{DB}/backups"): [backup_json(1)]})
    result = api.run(["pg:backups:restore", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "--confirm my-app" in result.stderr
    assert api.requests == []


def test_restore_defaults_to_the_latest_successful_backup() -> None:
    api = FakeApi(
        {
            ("GET", f"{DB}/backups"): [
                backup_json(1),
                backup_json(3, status="failed"),
                backup_json(2),
            ],
            ("POST", f"{DB}/backups/b002/actions/restore"): {},
        }
    )
    result = api.run(["pg:backups:restore", "-a", "my-app", "--confirm", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Restoring b002 to DATABASE on ⬢ my-app... done\n"
    assert api.paths() == [
        ("GET", f"{DB}/backups"),
        ("POST", f"{DB}/backups/b002/actions/restore"),
    ]


def test_restore_named_backup_into_another_database() -> None:
    red = f"{APP}/addons/HEROKU_POSTGRESQL_RED_URL"
    api = FakeApi({("POST", f"{red}/backups/b001/actions/restore"): {}})
    result = api.run(
        [
            "pg:backups:restore",
            "b001",
            "HEROKU_POSTGRESQL_RED_URL",
            "-a",
            "my-app",
            "--confirm",
            "my-app",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Restoring b001 to HEROKU_POSTGRESQL_RED on ⬢ my-app... done\n"
    assert api.paths() == [("POST", f"{red}/backups/b001/actions/restore")]


def test_restore_without_backups_is_an_error() -> None:
    api = FakeApi({("GET", f"{DB}/backups"): [backup_json(1, status="failed")]})
    result = api.run(["pg:backups:restore", "-a", "my-app", "--confirm", "my-app"])
    assert result.exit_code == 1
    assert "No backups of DATABASE on ⬢ my-app" in result.stderr
    assert [r.method for r in api.requests] == ["GET"]


def test_download_streams_the_latest_backup_to_latest_dump(tmp_path: Path) -> None:
    dump = b"PGDMP" + bytes(range(256)) * 64
    api = FakeApi(
        {
            ("GET", f"{DB}/backups"): [backup_json(1), backup_json(2)],
            ("GET", f"{DB}/backups/b002/download"): httpx.Response(
                200, content=dump, headers={"Content-Type": "application/octet-stream"}
            ),
        }
    )
    result = api.run(["pg:backups:download", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Downloading b002 of DATABASE to latest.dump... done, 16.0 KB\n"
    assert (tmp_path / "latest.dump").read_bytes() == dump
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.dump"]


def test_download_named_backup_to_a_file(tmp_path: Path) -> None:
    api = FakeApi({("GET", f"{DB}/backups/b001/download"): httpx.Response(200, content=b"x")})
    result = api.run(["pg:backups:download", "b001", "-a", "my-app", "-o", "db.dump"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "db.dump").read_bytes() == b"x"
    assert api.paths() == [("GET", f"{DB}/backups/b001/download")]


def test_download_error_leaves_no_file(tmp_path: Path) -> None:
    api = FakeApi()
    result = api.run(["pg:backups:download", "b009", "-a", "my-app"])
    assert result.exit_code == 1
    assert result.stdout == "Downloading b009 of DATABASE to latest.dump... !\n"
    assert "Couldn't find that add-on." in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- pg:copy --------------------------------------------------------------------------------


def test_copy_from_another_app_posts_the_source() -> None:
    red = f"{APP}/addons/HEROKU_POSTGRESQL_RED_URL"
    api = FakeApi({("POST", f"{red}/actions/copy"): {}})
    result = api.run(
        [
            "pg:copy",
            "prod-app::DATABASE_URL",
            "HEROKU_POSTGRESQL_RED_URL",
            "-a",
            "my-app",
            "--confirm",
            "my-app",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Copying prod-app::DATABASE to HEROKU_POSTGRESQL_RED on ⬢ my-app... done\n"
    )
    assert api.calls() == [
        (
            "POST",
            f"{red}/actions/copy",
            {"from": {"app": "prod-app", "addon": "DATABASE_URL"}},
        )
    ]


def test_copy_within_the_app() -> None:
    api = FakeApi({("POST", f"{DB}/actions/copy"): {}})
    result = api.run(
        ["pg:copy", "HEROKU_POSTGRESQL_RED_URL", "DATABASE_URL", "-a", "my-app", "-c", "my-app"]
    )
    assert result.exit_code == 0, result.output
    assert api.calls() == [
        (
            "POST",
            f"{DB}/actions/copy",
            {"from": {"app": "my-app", "addon": "HEROKU_POSTGRESQL_RED_URL"}},
        )
    ]


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("postgres://u:p@h/d", "DATABASE_URL", "URLs are not supported"),
        ("DATABASE_URL", "other-app::DATABASE_URL", "must be a database of ⬢ my-app"),
        ("DATABASE_URL", "my-app::DATABASE_URL", "same database"),
    ],
)
def test_copy_rejects_bad_source_or_target(source: str, target: str, message: str) -> None:
    api = FakeApi()
    result = api.run(["pg:copy", source, target, "-a", "my-app", "--confirm", "my-app"])
    assert result.exit_code == 1
    assert message in result.stderr
    assert api.requests == []


def test_copy_refuses_without_confirm() -> None:
    api = FakeApi()
    result = api.run(["pg:copy", "a::DATABASE_URL", "DATABASE_URL", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "This removes all data from DATABASE on ⬢ my-app" in result.stderr
    assert "--confirm my-app" in result.stderr
    assert api.requests == []


# -- redis ----------------------------------------------------------------------------------


def test_redis_info_prints_plan_version_and_info_text() -> None:
    info = {
        "addon": {"id": "id-redis-amber-54321", "name": "redis-amber-54321"},
        "service": "heroku-redis",
        "plan": "heroku-redis:mini",
        "status": "available",
        "version": "7.0.15",
        "data_size": None,
        "info": "# Server\r\nredis_version:7.0.15\r\n",
        "url_var": "REDIS_URL",
    }
    api = FakeApi({("GET", f"{APP}/addons/REDIS_URL/info"): info})
    result = api.run(["redis:info", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== redis-amber-54321 (REDIS_URL)",
        "",
        "Plan:    mini",
        "Status:  available",
        "Version: 7.0.15",
        "",
        "# Server",
        "redis_version:7.0.15",
    ]


def test_redis_info_refuses_a_postgres_addon() -> None:
    api = FakeApi({("GET", f"{DB}/info"): pg_info()})
    result = api.run(["redis:info", "DATABASE_URL", "-a", "my-app"])
    assert result.exit_code == 1
    assert "not heroku-redis" in result.stderr


def redis_api() -> FakeApi:
    redis_path = f"{APP}/addons/REDIS_URL"
    return FakeApi(
        {
            ("GET", redis_path): addon_json("redis-amber-54321", "heroku-redis"),
            ("GET", f"{redis_path}/credentials"): credentials(REDIS_URL),
        }
    )


def test_redis_cli_command_passes_the_password_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = fake_tools(monkeypatch)
    result = redis_api().run(["redis:cli", "-a", "my-app", "-c", "GET 'my key'"])
    assert result.exit_code == 0, result.output
    assert tools.argv == [
        "/usr/bin/redis-cli",
        "-u",
        "rediss://127.0.0.1:6380",
        "--insecure",
        "GET",
        "my key",
    ]
    assert tools.env["REDISCLI_AUTH"] == "r3dis"


def test_redis_cli_interactive_execs(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = fake_tools(monkeypatch)
    result = redis_api().run(["redis:cli", "REDIS_URL", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "--> Connecting to redis-amber-54321\n"
    assert tools.file == "/usr/bin/redis-cli"
    assert tools.argv == ["/usr/bin/redis-cli", "-u", "rediss://127.0.0.1:6380", "--insecure"]


def test_redis_cli_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools(monkeypatch, installed=False)
    api = redis_api()
    result = api.run(["redis:cli", "-a", "my-app"])
    assert result.exit_code == 1
    assert "redis-cli is not installed" in result.stderr
    assert api.requests == []
