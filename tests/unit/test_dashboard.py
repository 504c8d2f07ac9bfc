"""The web dashboard through the whole API app (its body guard, the mount) with Starlette's
TestClient: logging in and out, the session cookie, CSRF, throttling, who sees which
app, and that each change goes through the same service as the API (a release per
config change, scaling, rollback)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from cove.api import ApiContext, create_api
from cove.dashboard import sessions
from cove.dashboard.throttle import LoginThrottle
from cove.domain import passwords
from cove.logs import LogFilter, LogRouter
from cove.services import accounts, apps, formation, releases
from cove.settings import Settings
from cove.store import Dyno, Release, Slug, Store

PASSWORD = "a-password-123"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: these tests are about the dashboard, not the hash."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def logs() -> LogRouter:
    return LogRouter()


@pytest.fixture
def client(store: Store, tmp_path: Path, logs: LogRouter) -> TestClient:
    accounts.create_account(store, "a@example.com", PASSWORD)
    accounts.create_account(store, "b@example.com", PASSWORD)
    context = ApiContext(Settings(home=tmp_path), store, logs, None, None, None)  # type: ignore[arg-type]
    return TestClient(create_api(context), base_url="https://testserver")


def login_token(client: TestClient) -> str:
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    return re.search(r'name="login_token" value="([^"]+)"', unescape(page.text)).group(1)  # type: ignore[union-attr]


def log_in(client: TestClient, email: str, password: str = PASSWORD, next: str = "") -> str:
    """Logs ``client`` in; the page's CSRF token."""
    answer = client.post(
        "/dashboard/login",
        data={
            "login_token": login_token(client),
            "email": email,
            "password": password,
            "next": next,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, unescape(answer.text)
    return csrf_of(client.get("/dashboard/apps").text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def flash(html: str) -> str:
    """The page's notice ("Error: ..." when it is an error)."""
    found = re.search(r'class="flash( error)?" role="\w+"[^>]*>([^<]*)<', html)
    if found is None:
        return ""
    return ("Error: " if found.group(1) else "") + found.group(2)


def deployed(store: Store, app_name: str, types: dict[str, str] | None = None) -> Release:
    """A release with a slug, as a build makes (web type formation included)."""
    with store.session() as s:
        app = apps.find(s, app_name)
        slug = Slug(
            app_id=app.id,
            checksum="SHA256:" + "0" * 64,
            size=1,
            process_types=types or {"web": "gunicorn app:app"},
            stack="heroku-24",
        )
        s.add(slug)
        s.flush()
        formation.ensure_types(s, app.id, slug.process_types)
        return releases.append(
            s, app, slug_id=slug.id, description="Deploy 1234abc", user_id=app.owner_id
        )


# -- logging in ---------------------------------------------------------------------------


def test_pages_need_a_log_in_and_come_back_after_it(client: TestClient) -> None:
    answer = client.get("/dashboard/apps?q=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login?next=/dashboard/apps%3Fq%3Dx"
    live = client.get("/dashboard/apps/x/dynos", headers={"HX-Request": "true"})
    assert live.status_code == 401 and live.headers["HX-Redirect"].startswith("/dashboard/login")
    token = login_token(client)
    back = client.post(
        "/dashboard/login",
        data={
            "login_token": token,
            "email": "A@example.com",
            "password": PASSWORD,
            "next": "/dashboard/new-app",
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == "/dashboard/new-app"


def test_the_session_cookie_is_secure_httponly_lax_and_lapses(client: TestClient) -> None:
    token = login_token(client)
    answer = client.post(
        "/dashboard/login",
        data={"login_token": token, "email": "a@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-cove_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/;" in cookie.lower() + ";"
    assert "max-age=43200" in cookie.lower()


def test_wrong_password_is_refused_with_one_message(client: TestClient) -> None:
    for email, password in (("a@example.com", "wrong"), ("nobody@example.com", PASSWORD)):
        answer = client.post(
            "/dashboard/login",
            data={"login_token": login_token(client), "email": email, "password": password},
            follow_redirects=False,
        )
        assert answer.status_code == 401
        assert "Invalid email or password." in unescape(answer.text)
        assert "wrong" not in unescape(answer.text)  # the password is never echoed
        assert not any("cove_session" in c for c in answer.headers.get_list("set-cookie"))
    empty = client.post(
        "/dashboard/login", data={"login_token": login_token(client), "email": "a@example.com"}
    )
    assert empty.status_code == 422 and "Enter your email address and your password." in unescape(
        empty.text
    )


def test_a_log_in_form_without_its_cookie_is_refused(client: TestClient) -> None:
    token = login_token(client)
    client.cookies.clear()
    answer = client.post(
        "/dashboard/login",
        data={"login_token": token, "email": "a@example.com", "password": PASSWORD},
    )
    assert answer.status_code == 403 and "The log-in form had expired" in unescape(answer.text)


def test_log_in_goes_only_to_dashboard_pages(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/dashboard/", "/other"):
        answer = client.post(
            "/dashboard/login",
            data={
                "login_token": login_token(client),
                "email": "a@example.com",
                "password": PASSWORD,
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/dashboard/apps"
        client.cookies.clear()


def test_failed_log_ins_are_throttled(client: TestClient) -> None:
    for _ in range(10):
        client.post(
            "/dashboard/login",
            data={"login_token": login_token(client), "email": "a@example.com", "password": "nope"},
        )
    # Now even the right password is not checked, and the message says what to do.
    answer = client.post(
        "/dashboard/login",
        data={"login_token": login_token(client), "email": "a@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 429
    assert "Too many failed log-in attempts. Try again in 10 minute(s)." in unescape(answer.text)


def test_throttle_forgets_after_its_window_and_stays_bounded() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=2, window=60, max_keys=3, clock=lambda: now[0])
    throttle.failed("email:a", "address:1")
    now[0] = 10
    throttle.failed("email:a", "address:1")
    assert throttle.retry_after("email:a") == 50
    assert throttle.retry_after("address:1", "email:other") == 50
    now[0] = 61
    assert throttle.retry_after("email:a") == 0  # the first failure left the window
    throttle.failed("email:a")
    assert throttle.retry_after("email:a") == 9  # until the one at 10 leaves it
    throttle.succeeded("email:a")
    assert throttle.retry_after("email:a") == 0
    for key in ("k1", "k2", "k3", "k4"):
        throttle.failed(key)
    assert len(throttle._failures) == 3


def test_log_out_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client, "a@example.com")
    cookie = client.cookies.get("__Host-cove_session")
    answer = client.post("/dashboard/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/login"
    client.cookies.set("__Host-cove_session", cookie or "")  # an old copy of the cookie
    assert client.get("/dashboard/apps", follow_redirects=False).status_code == 303


def test_a_lapsed_session_or_a_changed_password_logs_out(client: TestClient, store: Store) -> None:
    account = accounts.by_email(store, "a@example.com")
    opened = datetime.now(UTC) - sessions.LIFETIME - timedelta(seconds=1)
    client.cookies.set("__Host-cove_session", sessions.open_session(store, account, opened))
    answer = client.get("/dashboard/apps", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login")
    log_in(client, "a@example.com")
    assert client.get("/dashboard/apps", follow_redirects=False).status_code == 200
    accounts.set_password(store, account.id, "another-password-1")
    assert client.get("/dashboard/apps", follow_redirects=False).status_code == 303


# -- forms --------------------------------------------------------------------------------


def test_forms_without_the_csrf_token_are_refused(client: TestClient, store: Store) -> None:
    csrf = log_in(client, "a@example.com")
    forged = ("y" if csrf.startswith("x") else "x") + csrf[1:]  # one character off
    for data in ({"name": "forged"}, {"name": "forged", "csrf_token": forged}):
        answer = client.post("/dashboard/apps", data=data)
        assert answer.status_code == 403
        assert "This form has expired or did not come from this page." in unescape(answer.text)
    other_site = client.post(
        "/dashboard/apps",
        data={"name": "forged", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403 and "from another site" in unescape(other_site.text)
    assert [a.name for a in apps.list_apps(store)] == []


def test_a_stranger_post_is_not_read_and_big_forms_are_refused(client: TestClient) -> None:
    answer = client.post("/dashboard/apps", data={"name": "x"}, follow_redirects=False)
    assert answer.status_code == 303  # to the log-in page (the API's 401 isn't given here)
    csrf = log_in(client, "a@example.com")
    huge = client.post("/dashboard/apps", data={"csrf_token": csrf, "name": "x" * 70_000})
    assert huge.status_code == 413 and "The form is larger than 64 KiB." in unescape(huge.text)
    json = client.post("/dashboard/apps", json={"csrf_token": csrf})
    assert json.status_code == 415


def test_create_an_app(client: TestClient, store: Store, logs: LogRouter) -> None:
    csrf = log_in(client, "a@example.com")
    page = client.post("/dashboard/apps", data={"csrf_token": csrf, "name": "my-app"})
    assert page.url.path == "/dashboard/apps/my-app"
    assert flash(unescape(page.text)) == "Created my-app."
    assert apps.get(store, "my-app").owner_id == accounts.by_email(store, "a@example.com").id
    taken = client.post("/dashboard/apps", data={"csrf_token": csrf, "name": "my-app"})
    assert taken.status_code == 422 and "Name is already taken (my-app)" in unescape(taken.text)
    bad = client.post("/dashboard/apps", data={"csrf_token": csrf, "name": "9 lives"})
    assert bad.status_code == 422 and "is invalid" in unescape(bad.text)
    lines = logs.recent(apps.get(store, "my-app").id, 10, LogFilter())
    assert any("Initial release by user a@example.com" in line for line in lines)


# -- access -------------------------------------------------------------------------------


def test_a_stranger_gets_404_for_every_page_and_form_of_an_app(
    client: TestClient, store: Store
) -> None:
    owner = accounts.by_email(store, "a@example.com")
    apps.create(store, owner.id, "a-secret-app")
    csrf = log_in(client, "b@example.com")
    listing = client.get("/dashboard/apps")
    assert "a-secret-app" not in unescape(listing.text)
    for path in ("", "/activity", "/settings?reveal=1", "/resources", "/dynos"):
        answer = client.get(f"/dashboard/apps/a-secret-app{path}")
        assert answer.status_code == 404, path
        assert "Couldn't find that app." in unescape(answer.text)
    for path, data in (
        ("/config", {"key": "STOLEN", "value": "1"}),
        ("/config/unset", {"key": "X"}),
        ("/rollback", {"release": "v1"}),
        ("/formation", {"type": "web", "quantity": "3"}),
    ):
        answer = client.post(
            f"/dashboard/apps/a-secret-app{path}", data={"csrf_token": csrf, **data}
        )
        assert answer.status_code == 404, path
    assert apps.get(store, "a-secret-app").config == {}
    assert [
        r.version for r in releases.list_releases(store, apps.get(store, "a-secret-app").id)
    ] == [1]
    # Once a collaborator, B sees it.
    from cove.services import access

    access.add(store, apps.get(store, "a-secret-app"), "b@example.com")
    assert "a-secret-app" in client.get("/dashboard/apps").text
    assert client.get("/dashboard/apps/a-secret-app").status_code == 200


def test_admins_see_every_app_and_search_filters(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    for name in ("alpha-one", "beta-two", "alpha-three"):
        apps.create(store, owner.id, name)
    accounts.create_account(store, "root@example.com", PASSWORD)
    with store.session() as s:
        from cove.store import Account

        admin = s.get(Account, accounts.by_email(store, "root@example.com").id)
        assert admin is not None
        admin.admin = True
    log_in(client, "root@example.com")
    listing = client.get("/dashboard/apps").text
    assert all(name in listing for name in ("alpha-one", "beta-two", "alpha-three"))
    found = client.get("/dashboard/apps", params={"q": "ALPHA"}).text
    assert "alpha-one" in found and "alpha-three" in found and "beta-two" not in found
    assert "No app's name contains “%_”." in client.get("/dashboard/apps", params={"q": "%_"}).text


# -- changes ------------------------------------------------------------------------------


def test_config_vars_each_change_is_a_release(
    client: TestClient, store: Store, logs: LogRouter
) -> None:
    owner = accounts.by_email(store, "a@example.com")
    app = apps.create(store, owner.id, "configured")
    csrf = log_in(client, "a@example.com")
    hidden = client.get("/dashboard/apps/configured/settings")
    set_ = client.post(
        "/dashboard/apps/configured/config",
        data={"csrf_token": csrf, "key": "GREETING", "value": "hi\r\nthere"},
    )
    assert flash(unescape(set_.text)) == "Set GREETING config vars: v2."
    assert apps.get(store, "configured").config == {"GREETING": "hi\nthere"}
    assert "hi\nthere" in unescape(set_.text)  # revealed after a change
    hidden = client.get("/dashboard/apps/configured/settings")
    assert "GREETING" in unescape(hidden.text) and "there" not in unescape(hidden.text)
    same = client.post(
        "/dashboard/apps/configured/config",
        data={"csrf_token": csrf, "key": "GREETING", "value": "hi\nthere"},
    )
    assert flash(unescape(same.text)) == "Nothing changed."
    unset = client.post(
        "/dashboard/apps/configured/config/unset", data={"csrf_token": csrf, "key": "GREETING"}
    )
    assert flash(unescape(unset.text)) == "Remove GREETING config vars: v3."
    bad = client.post(
        "/dashboard/apps/configured/config", data={"csrf_token": csrf, "key": "", "value": "x"}
    )
    assert flash(unescape(bad.text)).startswith("Error: ")
    assert [r.description for r in releases.list_releases(store, app.id)] == [
        "Initial release",
        "Set GREETING config vars",
        "Remove GREETING config vars",
    ]
    activity = client.get("/dashboard/apps/configured/activity").text
    assert "Set GREETING config vars" in activity and "a@example.com" in activity
    lines = logs.recent(app.id, 20, LogFilter())
    assert any("Set GREETING config vars by user a@example.com" in line for line in lines)


def test_scale_and_size_like_ps_scale(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    app = apps.create(store, owner.id, "scaled")
    csrf = log_in(client, "a@example.com")
    early = client.post(
        "/dashboard/apps/scaled/formation",
        data={"csrf_token": csrf, "type": "web", "quantity": "2"},
    )
    assert "Couldn't find that process type (web)." in unescape(early.text)
    deployed(store, "scaled", {"web": "gunicorn app:app", "worker": "python work.py"})
    page = client.get("/dashboard/apps/scaled/resources").text
    assert "gunicorn app:app" in page and 'id="quantity-worker"' in page
    done = client.post(
        "/dashboard/apps/scaled/formation",
        data={"csrf_token": csrf, "type": "web", "quantity": "2", "size": "standard-2x"},
    )
    assert flash(unescape(done.text)) == "Scaled to web@2:Standard-2X."
    rows = {f.type: (f.quantity, f.size) for f in formation.list_formation(store, app.id)}
    assert rows == {"web": (2, "standard-2x"), "worker": (0, "standard-1x")}
    too_many = client.post(
        "/dashboard/apps/scaled/formation",
        data={"csrf_token": csrf, "type": "web", "quantity": "101"},
    )
    assert flash(unescape(too_many.text)) == "Error: Quantity must be between 0 and 100."


def test_roll_back_from_activity(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    app = apps.create(store, owner.id, "rolled")
    deployed(store, "rolled")
    csrf = log_in(client, "a@example.com")
    client.post(
        "/dashboard/apps/rolled/config", data={"csrf_token": csrf, "key": "A", "value": "1"}
    )
    activity = client.get("/dashboard/apps/rolled/activity").text
    # v2 (the deploy) can be rolled back to; v1 has no slug and v3 is current.
    assert ">Roll back to v2<" in activity
    assert ">Roll back to v1<" not in activity and ">Roll back to v3<" not in activity
    done = client.post(
        "/dashboard/apps/rolled/rollback", data={"csrf_token": csrf, "release": "v2"}
    )
    assert flash(unescape(done.text)) == "Rollback to v2: v4."
    assert apps.get(store, "rolled").config == {}
    refused = client.post(
        "/dashboard/apps/rolled/rollback", data={"csrf_token": csrf, "release": "v1"}
    )
    assert flash(unescape(refused.text)).startswith("Error: v1 cannot be rolled back to")
    missing = client.post(
        "/dashboard/apps/rolled/rollback", data={"csrf_token": csrf, "release": "v99"}
    )
    assert flash(unescape(missing.text)) == "Error: Couldn't find that release. (99)"
    assert len(releases.list_releases(store, app.id)) == 4


# -- pages --------------------------------------------------------------------------------


def test_overview_shows_release_dynos_and_activity(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    apps.create(store, owner.id, "shown")
    deployed(store, "shown")
    log_in(client, "a@example.com")
    page = client.get("/dashboard/apps/shown").text
    assert "https://shown.localhost:5443/" in page
    assert "<strong>v2</strong> Deploy 1234abc" in page
    assert 'hx-get="/dashboard/apps/shown/dynos" hx-trigger="every 2s"' in page
    fragment = client.get("/dashboard/apps/shown/dynos")
    assert unescape(fragment.text).lstrip().startswith('<section id="dynos"')
    assert fragment.headers["cache-control"] == "no-store"
    # The current release rides along, swapped into its place out of band.
    assert re.search(
        r'<div id="current-release" hx-swap-oob="true">\s*<p><strong>v2</strong> Deploy 1234abc',
        fragment.text,
    )
    assert "hx-swap-oob" not in page


def test_assets_are_hashed_cached_and_pages_are_not(client: TestClient) -> None:
    page = client.get("/dashboard/login")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for name in re.findall(r'(?:href|src)="(/dashboard/assets/[^"]+)"', unescape(page.text)):
        asset = client.get(name)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert re.search(r"/dashboard/assets/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js", unescape(page.text))
    assert client.get("/dashboard/assets/htmx.js").status_code == 404
    unknown = client.get("/dashboard/nothing-here")
    assert unknown.status_code == 404 and "There is no such page." in unescape(unknown.text)


def test_apps_list_shows_dyno_states_and_last_release(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    apps.create(store, owner.id, "busy")
    apps.create(store, owner.id, "quiet")
    release = deployed(store, "busy", {"web": "gunicorn app:app", "worker": "python w.py"})
    with store.session() as s:
        app_id = apps.find(s, "busy").id
        for name, state in (("web.1", "up"), ("web.2", "up"), ("worker.1", "crashed")):
            s.add(
                Dyno(
                    app_id=app_id,
                    name=name,
                    type=name.split(".")[0],
                    command="x",
                    state=state,
                    release_version=release.version,
                    revision="r",
                )
            )
    log_in(client, "a@example.com")
    listing = unescape(client.get("/dashboard/apps").text)
    busy = listing[listing.index(">busy<") : listing.index(">quiet<")]
    assert 'class="state state-crashed">crashed<' in busy
    assert "2 up, 1 crashed" in busy and "v2" in busy and "Deploy 1234abc" in busy
    quiet = listing[listing.index(">quiet<") :]
    assert 'class="state state-idle">idle<' in quiet and "v1" in quiet
    page = unescape(client.get("/dashboard/apps/busy/dynos").text)
    assert re.search(r'data-dyno="worker.1">.*?state-crashed">crashed<', page, re.S)


def test_without_tls_the_cookie_is_not_secure(store: Store, tmp_path: Path) -> None:
    accounts.create_account(store, "a@example.com", PASSWORD)
    context = ApiContext(Settings(home=tmp_path, tls=False), store, LogRouter(), None, None, None)  # type: ignore[arg-type]
    client = TestClient(create_api(context), base_url="http://testserver")
    answer = client.post(
        "/dashboard/login",
        data={"login_token": login_token(client), "email": "a@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cove_session="))
    assert "secure" not in cookie.lower() and "httponly" in cookie.lower()


def test_a_notice_is_shown_once_and_odd_cookies_are_nobody(store: Store) -> None:
    accounts.create_account(store, "a@example.com", PASSWORD)
    account = accounts.by_email(store, "a@example.com")
    token = sessions.open_session(store, account)
    first = sessions.visitor(store, token)
    assert first is not None and first.flash is None
    sessions.set_flash(store, first.session_id, "Done.")
    assert sessions.visitor(store, token).flash == "Done."  # type: ignore[union-attr]
    assert sessions.visitor(store, token).flash is None  # type: ignore[union-attr]
    assert sessions.visitor(store, None) is None
    assert sessions.visitor(store, "x" * 200) is None
    assert sessions.visitor(store, token + "x") is None
    assert not first.csrf_ok(None) and not first.csrf_ok("") and first.csrf_ok(first.csrf_token)


def test_times_read_as_how_long_ago() -> None:
    from cove.dashboard.web import ago

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=30), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert ago(now - timedelta(hours=5, minutes=59), now) == "5 hours ago"
    assert ago(now - timedelta(days=3), now) == "3 days ago"
