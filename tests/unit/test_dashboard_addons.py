"""The dashboard's add-on pages, dataclips and Deploy tab through the whole API app
(TestClient), with a real PostgreSQL server for the add-ons: create and destroy from
Resources, credentials only on a POST, SQL run read-only as the add-on's own role with its
limits, saved dataclips visible to whoever may see the app, and promotion in a pipeline."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cove.addons import PostgresProvider, Registry
from cove.api import ApiContext, create_api
from cove.logs import LogRouter
from cove.services import access, accounts, apps, dataclips, pipelines
from cove.settings import Settings
from cove.store import Account, AddOn, Release, Store
from cove.store.models import Dataclip
from tests.unit.test_dashboard import cheap_hashes, deployed, flash, log_in

__all__ = ["cheap_hashes"]  # (its autouse fixture applies here too)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresProvider]:
    """A real PostgreSQL server (Cove's own cluster), started on a loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    provider = PostgresProvider(tmp_path_factory.mktemp("pg"), loop)
    try:
        yield provider
    finally:
        asyncio.run_coroutine_threadsafe(provider.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def client(store: Store, tmp_path: Path, postgres: PostgresProvider) -> TestClient:
    accounts.create_account(store, "a@example.com", "a-password-123")
    accounts.create_account(store, "b@example.com", "a-password-123")
    accounts.create_account(store, "c@example.com", "a-password-123")
    nothing: Any = None  # (no builder nor release phase: these pages use neither)
    context = ApiContext(
        Settings(home=tmp_path), store, LogRouter(), nothing, nothing, Registry([postgres])
    )
    return TestClient(create_api(context), base_url="https://testserver")


def _app(client: TestClient, store: Store, name: str = "shop") -> str:
    token = log_in(client, "a@example.com")
    owner = _account(store, "a@example.com")
    apps.create(store, owner.id, name)
    return token


def _account(store: Store, email: str) -> Account:
    return accounts.by_email(store, email)


def _create_db(client: TestClient, token: str, app: str = "shop") -> str:
    answer = client.post(
        f"/dashboard/apps/{app}/addons",
        data={"csrf_token": token, "service": "heroku-postgresql", "plan": ""},
    )
    created = re.search(
        r"Created (postgresql-[a-z]+-\d+) \(essential-0\) as DATABASE\.", _flash(answer.text)
    )
    assert created, _flash(answer.text)
    return created.group(1)


def _flash(html: str) -> str:
    return unescape(flash(html))


def _addon(store: Store, name: str) -> AddOn:
    with store.session() as s:
        return s.query(AddOn).filter_by(name=name).one()


def _run(client: TestClient, token: str, db: str, sql: str, app: str = "shop"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/dashboard/apps/{app}/addons/{db}/sql", data={"csrf_token": token, "sql": sql}
    )


def _cells(html: str) -> list[list[str]]:
    body = re.search(r'<table class="grid-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, "no result table"
    return [
        [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def _error(html: str) -> str:
    found = re.search(r'id="sql-error"><pre class="plain-pre">(.*?)</pre>', html, re.S)
    return unescape(found.group(1)) if found else ""


# -- Resources: create and destroy -----------------------------------------------------------


def test_resources_creates_a_postgres_addon_like_addons_create(
    client: TestClient, store: Store
) -> None:
    token = _app(client, store)
    page = client.get("/dashboard/apps/shop/resources").text
    assert 'name="service"' in page and "heroku-postgresql:essential-0" in page
    db = _create_db(client, token)
    addon = _addon(store, db)
    assert addon.plan == "essential-0"
    with store.session() as s:
        app = apps.find(s, "shop")
        assert app.config["DATABASE_URL"] == addon.url
    resources = client.get("/dashboard/apps/shop/resources").text
    assert f'href="/dashboard/apps/shop/addons/{db}"' in resources
    overview = client.get("/dashboard/apps/shop").text
    assert f'href="/dashboard/apps/shop/addons/{db}"' in overview

    answer = client.post(
        "/dashboard/apps/shop/addons",
        data={
            "csrf_token": token,
            "service": "heroku-postgresql",
            "plan": "heroku-postgresql:essential-1",
        },
    )
    assert "(essential-1) as HEROKU_POSTGRESQL_" in _flash(answer.text)


@pytest.mark.parametrize(
    ("service", "plan", "message"),
    [
        ("", "", "Error: Choose an add-on service."),
        ("nope", "", "Error: Couldn't find either the add-on service or the add-on plan"),
        ("heroku-postgresql", "heroku-postgresql:huge", "Error: Couldn't find the plan 'huge'"),
        ("heroku-postgresql", "heroku-redis:mini", "Error: mini is a plan of heroku-redis"),
    ],
)
def test_creating_an_addon_says_what_is_wrong(
    client: TestClient, store: Store, service: str, plan: str, message: str
) -> None:
    token = _app(client, store)
    answer = client.post(
        "/dashboard/apps/shop/addons", data={"csrf_token": token, "service": service, "plan": plan}
    )
    assert _flash(answer.text).startswith(message)
    with store.session() as s:
        assert s.query(AddOn).count() == 0


def test_destroy_needs_the_name_typed(client: TestClient, store: Store) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    url = f"/dashboard/apps/shop/addons/{db}/destroy"
    wrong = client.post(url, data={"csrf_token": token, "confirm": "shop"})
    assert _flash(wrong.text) == f"Error: Type {db} to confirm: its data will be gone."
    assert _addon(store, db)
    client.post(
        f"/dashboard/apps/shop/addons/{db}/dataclips",
        data={"csrf_token": token, "title": "one", "sql": "select 1"},
    )
    gone = client.post(url, data={"csrf_token": token, "confirm": db})
    assert _flash(gone.text) == f"Destroyed {db}."
    assert gone.url.path == "/dashboard/apps/shop/resources"
    with store.session() as s:
        assert s.query(AddOn).count() == 0
        assert s.query(Dataclip).count() == 0  # its dataclips went with it
        assert "DATABASE_URL" not in apps.find(s, "shop").config


# -- the add-on's page and its credentials ---------------------------------------------------


def test_the_addon_page_shows_pg_info_and_hides_the_credentials(
    client: TestClient, store: Store
) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    password = _addon(store, db).resource["password"]
    page = client.get(f"/dashboard/apps/shop/addons/{db}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'data-fact="Status">Available' in page.text and "essential-0" in page.text
    assert 'data-fact="PG Version">' in page.text
    assert password not in page.text and "Reveal credentials" in page.text

    url = f"/dashboard/apps/shop/addons/{db}/credentials"
    refused = client.post(url, data={"csrf_token": "wrong"})
    assert refused.status_code == 403 and password not in refused.text
    cross_site = client.post(
        url, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403 and password not in cross_site.text
    shown = client.post(url, data={"csrf_token": token})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert password in shown.text and "Hide credentials" in shown.text


def test_a_stranger_gets_404_on_every_addon_page_and_form(client: TestClient, store: Store) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    saved = client.post(
        f"/dashboard/apps/shop/addons/{db}/dataclips",
        data={"csrf_token": token, "title": "Orders", "sql": "select 1 as n"},
        follow_redirects=False,
    )
    clip = saved.headers["location"]
    password = _addon(store, db).resource["password"]

    stranger = TestClient(client.app, base_url="https://testserver")
    other = log_in(stranger, "b@example.com")
    for path in (f"/dashboard/apps/shop/addons/{db}", clip, clip + ".csv"):
        answer = stranger.get(path)
        assert answer.status_code == 404, path
        assert password not in answer.text
    assert "Couldn't find that dataclip." in unescape(stranger.get(clip).text)
    assert stranger.get("/dashboard/dataclips/no-such-id").status_code == 404
    for suffix in ("/credentials", "/sql", "/sql.csv", "/dataclips", "/destroy"):
        answer = stranger.post(
            f"/dashboard/apps/shop/addons/{db}{suffix}",
            data={"csrf_token": other, "sql": "select 1", "title": "x", "confirm": db},
        )
        assert answer.status_code == 404, suffix
        assert password not in answer.text
    assert stranger.post(clip + "/delete", data={"csrf_token": other}).status_code == 404
    assert (
        stranger.post(
            "/dashboard/apps/shop/addons",
            data={"csrf_token": other, "service": "heroku-postgresql"},
        ).status_code
        == 404
    )
    assert _addon(store, db)  # nothing was destroyed

    # A collaborator may see the app: the saved dataclip opens for them.
    with store.session() as s:
        app = apps.find(s, "shop")
    access.add(store, app, "c@example.com")
    friend = TestClient(client.app, base_url="https://testserver")
    log_in(friend, "c@example.com")
    opened = friend.get(clip)
    assert opened.status_code == 200 and "Orders" in opened.text
    assert _cells(opened.text) == [["1"]]


def test_another_apps_addon_is_not_found_under_this_app(client: TestClient, store: Store) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    apps.create(store, _account(store, "a@example.com").id, "other")
    answer = client.get(f"/dashboard/apps/other/addons/{db}")
    assert answer.status_code == 404
    assert "Couldn't find that add-on on other." in unescape(answer.text)


# -- dataclips -------------------------------------------------------------------------------


def test_a_query_returns_rows_as_a_table_run_as_the_addons_own_role(
    client: TestClient, store: Store
) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    answer = _run(client, token, db, "select 1 as n union select 2 order by n;")
    assert answer.status_code == 200
    assert '<th scope="col">n</th>' in answer.text
    assert _cells(answer.text) == [["1"], ["2"]]
    assert "2 rows." in answer.text
    who = _run(client, token, db, "select current_user, current_setting('transaction_read_only')")
    assert _cells(who.text) == [[_addon(store, db).resource["role"], "on"]]
    nulls = _run(client, token, db, "select null::int as a, '<b>x</b>' as b")
    assert _cells(nulls.text) == [["NULL", "<b>x</b>"]]  # escaped, not markup
    assert "&lt;b&gt;x&lt;/b&gt;" in nulls.text


def _count(postgres: PostgresProvider, resource: dict[str, object]) -> int:
    with psycopg.connect(PostgresProvider.url(resource)) as conn:
        row = conn.execute("select count(*) from t").fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.parametrize(
    "sql",
    [
        "insert into t values (1)",
        "update t set a = 2",
        "delete from t",
        "drop table t",
        "with x as (insert into t values (1) returning a) select * from x",
        "select 1; commit; insert into t values (1)",
        "select 1; set default_transaction_read_only = off; insert into t values (1)",
        "select nextval('s')",
    ],
)
def test_the_sql_box_is_read_only(
    client: TestClient, store: Store, postgres: PostgresProvider, sql: str
) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    resource = _addon(store, db).resource
    with psycopg.connect(PostgresProvider.url(resource), autocommit=True) as conn:
        conn.execute("create table t (a int); insert into t values (0); create sequence s")
    answer = _run(client, token, db, sql)
    assert answer.status_code == 422
    message = _error(answer.text)
    assert "read-only" in message or "cannot insert multiple commands" in message, message
    assert _count(postgres, resource) == 1
    assert resource["password"] not in answer.text or "Hide credentials" in answer.text


def test_postgres_errors_are_shown_without_credentials(client: TestClient, store: Store) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    answer = _run(client, token, db, "select * from missing_table")
    assert answer.status_code == 422
    assert _error(answer.text) == 'ERROR: relation "missing_table" does not exist\nat character 15'
    assert _addon(store, db).resource["password"] not in answer.text
    assert "select * from missing_table</textarea>" in answer.text  # kept to fix it


def test_a_query_that_cannot_connect_says_so_without_the_url(store: Store) -> None:
    resource = {
        "role": "u1",
        "password": "secret-pw",
        "host": "127.0.0.1",
        "port": 1,
        "database": "d",
    }
    with pytest.raises(dataclips.QueryFailed) as failed:
        dataclips.run(resource, "select 1")
    assert failed.value.message == "Couldn't connect to the database. Try again in a moment."


def test_limits_timeout_rows_csv_and_length(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    many = _run(client, token, db, "select g from generate_series(1, 1500) g")
    assert len(_cells(many.text)) == 1000
    assert "only the first 1000 are shown" in many.text

    csv_url = f"/dashboard/apps/shop/addons/{db}/sql.csv"
    got = client.post(
        csv_url, data={"csrf_token": token, "sql": "select g from generate_series(1, 1500) g"}
    )
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.headers["content-disposition"] == f'attachment; filename="{db}.csv"'
    assert got.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(got.text)))
    assert rows[0] == ["g"] and len(rows) == 1501
    monkeypatch.setattr(dataclips, "CSV_ROWS", 1200)
    capped = client.post(
        csv_url, data={"csrf_token": token, "sql": "select generate_series(1, 1500)"}
    )
    assert len(list(csv.reader(io.StringIO(capped.text)))) == 1201
    bad = client.post(csv_url, data={"csrf_token": token, "sql": "select * from nope"})
    assert bad.status_code == 422 and "relation &#34;nope&#34; does not exist" in bad.text

    monkeypatch.setattr(dataclips, "STATEMENT_TIMEOUT_MS", 300)
    slow = _run(client, token, db, "select pg_sleep(5)")
    assert _error(slow.text) == (
        "The query was cancelled after 0.3 seconds (the statement timeout)."
    )
    long = _run(client, token, db, "select 1" + " " * 10_000 + "+ 1")
    assert _error(long.text) == "The query is longer than 10,000 characters."
    empty = _run(client, token, db, " ; ")
    assert _error(empty.text) == "Write a query first, e.g. SELECT 1 AS n."
    monkeypatch.setattr(dataclips, "_running", threading.BoundedSemaphore(1))
    dataclips._running.acquire()  # one running already: the next is refused, not queued
    busy = _run(client, token, db, "select 1")
    assert _error(busy.text) == "Too many dataclips are running on this server. Try again shortly."


def test_the_sql_box_needs_the_form_token(client: TestClient, store: Store) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    for suffix in ("/sql", "/sql.csv", "/dataclips"):
        answer = client.post(
            f"/dashboard/apps/shop/addons/{db}{suffix}", data={"sql": "select 1", "title": "t"}
        )
        assert answer.status_code == 403, suffix
    with store.session() as s:
        assert s.query(Dataclip).count() == 0


def test_saved_dataclips_open_by_url_with_csv_and_can_be_deleted(
    client: TestClient, store: Store
) -> None:
    token = _app(client, store)
    db = _create_db(client, token)
    saved = client.post(
        f"/dashboard/apps/shop/addons/{db}/dataclips",
        data={
            "csrf_token": token,
            "title": "  Two   numbers ",
            "sql": "select 1 as n union select 2",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    url = saved.headers["location"]
    page = client.get(url)
    assert _flash(page.text) == "Saved Two numbers."
    assert '<h2 id="clip-title">Two numbers</h2>' in page.text and "a@example.com" in page.text
    assert _cells(page.text) == [["1"], ["2"]]
    got = client.get(url + ".csv")
    assert got.text.splitlines() == ["n", "1", "2"]
    assert 'filename="Two-numbers.csv"' in got.headers["content-disposition"]
    listed = client.get(f"/dashboard/apps/shop/addons/{db}").text
    assert f'href="{url}">Two numbers</a>' in listed

    for title, sql, message in [
        ("", "select 1", "Give the dataclip a title."),
        ("x" * 121, "select 1", "The title is longer than 120 characters."),
        ("t", "", "Write a query first, e.g. SELECT 1 AS n."),
    ]:
        refused = client.post(
            f"/dashboard/apps/shop/addons/{db}/dataclips",
            data={"csrf_token": token, "title": title, "sql": sql},
        )
        assert refused.status_code == 422 and _error(refused.text) == message

    deleted = client.post(url + "/delete", data={"csrf_token": token})
    assert _flash(deleted.text) == "Deleted the dataclip Two numbers."
    assert client.get(url).status_code == 404


# -- Deploy tab and promotion ----------------------------------------------------------------


def test_deploy_shows_the_git_remote_and_no_pipeline(client: TestClient, store: Store) -> None:
    _app(client, store)
    page = client.get("/dashboard/apps/shop/deploy")
    assert page.status_code == 200
    assert "git remote add cove https://" in page.text and "git push cove main" in page.text
    assert "shop is in no pipeline." in page.text
    assert 'aria-current="page">Deploy</a>' in page.text


def _pipeline(store: Store) -> str:
    owner = _account(store, "a@example.com")
    for name in ("shop-staging", "shop-prod", "shop-review"):
        apps.create(store, owner.id, name)
    deployed(store, "shop-staging")
    pipeline = pipelines.create(store, owner.id, "shop-line")
    with store.session() as s:
        found = {n: apps.find(s, n) for n in ("shop-staging", "shop-prod", "shop-review")}
    pipelines.couple(store, pipeline.id, owner.id, found["shop-staging"], "staging")
    pipelines.couple(store, pipeline.id, owner.id, found["shop-prod"], "production")
    pipelines.couple(store, pipeline.id, owner.id, found["shop-review"], "review")
    return pipeline.id


def test_promote_from_staging_releases_the_same_slug_in_production(
    client: TestClient, store: Store
) -> None:
    token = log_in(client, "a@example.com")
    _pipeline(store)
    page = client.get("/dashboard/apps/shop-staging/deploy").text
    assert "Pipeline shop-line" in page
    for stage in ("review", "development", "staging", "production"):
        assert f'data-stage="{stage}"' in page
    assert "v2 Deploy 1234abc" in page and "v1 Initial release" in page
    assert 'aria-label="Promote shop-staging to production"' in page
    assert "Promote shop-prod" not in page  # the last stage has nowhere to go

    answer = client.post(
        "/dashboard/apps/shop-staging/promote",
        data={"csrf_token": token, "source": "shop-staging"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "/dashboard/apps/shop-staging/deploy?promotion=" in answer.headers["location"]
    shown = client.get(answer.headers["location"]).text
    assert _flash(shown) == "Promoted shop-staging to 1 app."
    target = re.search(r'<tr data-target="shop-prod">(.*?)</tr>', shown, re.S)
    assert target and "v2" in target.group(1) and "succeeded" in target.group(1)
    with store.session() as s:
        staging = apps.find(s, "shop-staging")
        prod = apps.find(s, "shop-prod")
        source = s.query(Release).filter_by(app_id=staging.id, version=2).one()
        made = s.query(Release).filter_by(app_id=prod.id, version=2).one()
        assert made.slug_id == source.slug_id  # no rebuild: the same slug
        assert made.description == "Promote shop-staging v2"
    promotion = answer.headers["location"].split("promotion=")[1]
    fragment = client.get(f"/dashboard/apps/shop-staging/promotions/{promotion}")
    assert fragment.status_code == 200 and 'data-target="shop-prod"' in fragment.text
    assert "hx-get" not in fragment.text  # settled: no more polling


def test_promote_errors_csrf_and_strangers(client: TestClient, store: Store) -> None:
    token = log_in(client, "a@example.com")
    _pipeline(store)
    url = "/dashboard/apps/shop-staging/promote"
    for source, message in [
        ("shop-prod", "Error: Cannot promote from the 'production' stage."),
        ("shop-review", "Error: Cannot promote from the 'review' stage."),
        ("nope", "Error: Couldn't find that app. (nope)"),
    ]:
        answer = client.post(url, data={"csrf_token": token, "source": source})
        assert _flash(answer.text) == message, source
    assert client.post(url, data={"source": "shop-staging"}).status_code == 403

    stranger = TestClient(client.app, base_url="https://testserver")
    other = log_in(stranger, "b@example.com")
    assert stranger.get("/dashboard/apps/shop-staging/deploy").status_code == 404
    refused = stranger.post(url, data={"csrf_token": other, "source": "shop-staging"})
    assert refused.status_code == 404
    with store.session() as s:
        prod = apps.find(s, "shop-prod")
        assert s.query(Release).filter_by(app_id=prod.id).count() == 1  # its initial one

    # A collaborator of staging who doesn't own the pipeline sees it, without the button.
    with store.session() as s:
        staging = apps.find(s, "shop-staging")
    access.add(store, staging, "c@example.com")
    friend = TestClient(client.app, base_url="https://testserver")
    friend_token = log_in(friend, "c@example.com")
    page = friend.get("/dashboard/apps/shop-staging/deploy").text
    assert "Pipeline shop-line" in page and "Only the pipeline's owner can promote." in page
    assert "Promote shop-staging" not in page
    assert '<div class="app-card" data-app="shop-prod">' in page
    assert "You are not a collaborator." in page
    answer = friend.post(url, data={"csrf_token": friend_token, "source": "shop-staging"})
    assert _flash(answer.text).startswith("Error: Couldn't find that pipeline.")
