"""The dashboard's Access, Logs and the rest of Settings (buildpacks, domains, maintenance,
rename, delete) through the whole API app with Starlette's TestClient: each form's
success and error paths, CSRF and who may do what; the live tail's generator on its own
event loop (caps, the subscriber dropped when it ends)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html import unescape
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cove.dashboard import pages_logs, sessions
from cove.logs import LogFilter, LogRouter
from cove.services import access, accounts, apps, domains
from cove.store import Store
from tests.unit.test_dashboard import PASSWORD, cheap_hashes, client, flash, log_in, logs

__all__ = ["cheap_hashes", "client", "logs"]  # test_dashboard's fixtures, here too


def _app(store: Store, name: str = "my-app", owner: str = "a@example.com") -> str:
    apps.create(store, accounts.by_email(store, owner).id, name)
    return f"/dashboard/apps/{name}"


def _post(client: TestClient, path: str, csrf: str, **data: str) -> tuple[int, str]:
    """A form; the status and the notice of the page it leads to."""
    answer = client.post(path, data={"csrf_token": csrf, **data})
    return answer.status_code, flash(unescape(answer.text))


# -- Access --------------------------------------------------------------------------------


def test_access_lists_adds_and_removes_collaborators(client: TestClient, store: Store) -> None:
    base = _app(store)
    accounts.create_account(store, "c@example.com", None)
    csrf = log_in(client, "a@example.com")
    page = unescape(client.get(base + "/access").text)
    assert 'data-collaborator="a@example.com"' in page and "owner" in page
    assert _post(client, base + "/collaborators", csrf, email="B@example.com") == (
        200,
        "Added b@example.com as a collaborator.",
    )
    app = apps.get(store, "my-app")
    assert [u.email for _, u in access.collaborators(store, app)] == [
        "a@example.com",
        "b@example.com",
    ]
    assert _post(client, base + "/collaborators", csrf, email="b@example.com") == (
        200,
        "Error: b@example.com is already a collaborator on my-app.",
    )
    assert _post(client, base + "/collaborators", csrf, email="nobody@example.com") == (
        200,
        "Error: Couldn't find that user. (nobody@example.com)",
    )
    assert _post(client, base + "/collaborators", csrf, email="a@example.com") == (
        200,
        "Error: a@example.com owns my-app already.",
    )
    assert _post(client, base + "/collaborators", csrf, email="") == (
        200,
        "Error: Enter the email address of a user of this Cove.",
    )
    # A collaborator manages collaborators too, as through the API.
    client.cookies.clear()
    csrf_b = log_in(client, "b@example.com")
    assert _post(client, base + "/collaborators", csrf_b, email="c@example.com")[1] == (
        "Added c@example.com as a collaborator."
    )
    assert _post(client, base + "/collaborators/remove", csrf_b, email="c@example.com")[1] == (
        "Removed c@example.com."
    )
    assert _post(client, base + "/collaborators/remove", csrf_b, email="c@example.com")[1] == (
        "Error: Couldn't find that collaborator. (c@example.com)"
    )


def test_access_forms_need_the_csrf_token_and_access(client: TestClient, store: Store) -> None:
    base = _app(store)
    log_in(client, "b@example.com")  # not a collaborator
    assert client.get(base + "/access").status_code == 404
    client.cookies.clear()
    csrf = log_in(client, "a@example.com")
    forged = client.post(
        base + "/collaborators", data={"csrf_token": "x", "email": "b@example.com"}
    )
    assert forged.status_code == 403
    assert len(access.collaborators(store, apps.get(store, "my-app"))) == 1
    client.cookies.clear()
    csrf_b = log_in(client, "b@example.com")
    for path in ("/collaborators", "/collaborators/remove"):
        answer = client.post(base + path, data={"csrf_token": csrf_b, "email": "b@example.com"})
        assert answer.status_code == 404, path
    assert csrf  # (A's token is not B's)
    assert len(access.collaborators(store, apps.get(store, "my-app"))) == 1


# -- Settings: buildpacks, domains, maintenance ---------------------------------------------


def test_buildpacks_add_set_remove(client: TestClient, store: Store) -> None:
    base = _app(store)
    csrf = log_in(client, "a@example.com")
    form = base + "/buildpacks"
    assert _post(client, form, csrf, mode="add", buildpack="heroku/python")[1].startswith(
        "Added heroku/python."
    )
    _post(client, form, csrf, mode="add", buildpack="heroku/nodejs")
    assert apps.get(store, "my-app").buildpacks == ["heroku/python", "heroku/nodejs"]
    page = unescape(client.get(base + "/settings").text)
    assert page.index('data-buildpack="heroku/python"') < page.index(
        'data-buildpack="heroku/nodejs"'
    )
    assert _post(client, form, csrf, mode="add", buildpack="heroku/python")[1] == (
        "Error: The buildpack heroku/python is already set on this app."
    )
    assert _post(client, form, csrf, mode="add", buildpack="not a buildpack")[1].startswith(
        "Error: "
    )
    assert _post(client, form, csrf, mode="remove", buildpack="heroku/ruby")[1] == (
        "Error: The buildpack heroku/ruby is not set on my-app."
    )
    assert _post(client, form, csrf, mode="add", buildpack=" ")[1].startswith("Error: Enter a")
    _post(client, form, csrf, mode="remove", buildpack="heroku/python")
    assert apps.get(store, "my-app").buildpacks == ["heroku/nodejs"]
    _post(client, form, csrf, mode="set", buildpack="heroku-community/static")
    assert apps.get(store, "my-app").buildpacks == ["heroku-community/static"]


def test_domains_add_and_remove(client: TestClient, store: Store) -> None:
    base = _app(store)
    csrf = log_in(client, "a@example.com")
    assert _post(client, base + "/domains", csrf, hostname="WWW.Example.com")[1] == (
        "Added www.example.com: point its DNS at my-app.localhost (a CNAME record)."
    )
    page = unescape(client.get(base + "/settings").text)
    assert 'data-domain="www.example.com"' in page and "my-app.localhost" in page
    assert _post(client, base + "/domains", csrf, hostname="www.example.com")[1] == (
        "Error: Hostname www.example.com is already taken (by this app or another one)."
    )
    assert _post(client, base + "/domains", csrf, hostname="x.localhost")[1].startswith(
        "Error: x.localhost is under Cove's own domain"
    )
    assert _post(client, base + "/domains", csrf, hostname="bad host!")[1].startswith("Error: ")
    assert _post(client, base + "/domains/remove", csrf, hostname="www.example.com")[1] == (
        "Removed www.example.com."
    )
    assert domains.list_for_app(store, apps.get(store, "my-app").id) == []
    assert _post(client, base + "/domains/remove", csrf, hostname="www.example.com")[1].startswith(
        "Error: "
    )


def test_maintenance_toggle(client: TestClient, store: Store) -> None:
    base = _app(store)
    csrf = log_in(client, "a@example.com")
    assert _post(client, base + "/maintenance", csrf, maintenance="on")[1] == (
        "Maintenance mode is on."
    )
    assert apps.get(store, "my-app").maintenance is True
    assert "Turn maintenance mode off" in client.get(base + "/settings").text
    _post(client, base + "/maintenance", csrf, maintenance="off")
    assert apps.get(store, "my-app").maintenance is False


# -- Settings: rename, delete ---------------------------------------------------------------


def test_rename(client: TestClient, store: Store, logs: LogRouter) -> None:
    base = _app(store)
    _app(store, "taken-name")
    csrf = log_in(client, "a@example.com")
    answer = client.post(base + "/rename", data={"csrf_token": csrf, "name": "new-name"})
    assert answer.url.path == "/dashboard/apps/new-name/settings"
    assert flash(unescape(answer.text)).startswith("Renamed my-app to new-name.")
    app = apps.get(store, "new-name")
    assert any(
        "Rename from my-app to new-name by user a@example.com" in line
        for line in logs.recent(app.id, 10, LogFilter())
    )
    new = "/dashboard/apps/new-name"
    assert _post(client, new + "/rename", csrf, name="taken-name")[1] == (
        "Error: Name is already taken (taken-name)"
    )
    assert _post(client, new + "/rename", csrf, name="Bad Name")[1].startswith("Error: ")
    assert apps.get(store, "new-name").id == app.id


def test_delete_needs_the_typed_name_and_the_owner(client: TestClient, store: Store) -> None:
    base = _app(store)
    access.add(store, apps.get(store, "my-app"), "b@example.com")
    csrf_b = log_in(client, "b@example.com")
    assert "Delete app" not in client.get(base + "/settings").text  # a collaborator
    assert _post(client, base + "/destroy", csrf_b, confirm="my-app")[1] == (
        "Error: Only the owner of my-app can destroy it."
    )
    client.cookies.clear()
    csrf = log_in(client, "a@example.com")
    assert _post(client, base + "/destroy", csrf, confirm="my-ap")[1] == (
        "Error: Type my-app to confirm: nothing was deleted."
    )
    assert apps.get(store, "my-app")
    forged = client.post(base + "/destroy", data={"csrf_token": csrf_b, "confirm": "my-app"})
    assert forged.status_code == 403
    answer = client.post(base + "/destroy", data={"csrf_token": csrf, "confirm": "my-app"})
    assert answer.url.path == "/dashboard/apps"
    assert flash(unescape(answer.text)) == "Deleted my-app."
    assert [a.name for a in apps.list_apps(store)] == []


def test_settings_forms_are_404_for_a_stranger(client: TestClient, store: Store) -> None:
    base = _app(store)
    csrf = log_in(client, "b@example.com")
    for path, data in (
        ("/buildpacks", {"mode": "add", "buildpack": "heroku/python"}),
        ("/domains", {"hostname": "www.example.com"}),
        ("/domains/remove", {"hostname": "www.example.com"}),
        ("/maintenance", {"maintenance": "on"}),
        ("/rename", {"name": "stolen"}),
        ("/destroy", {"confirm": "my-app"}),
    ):
        answer = client.post(base + path, data={"csrf_token": csrf, **data})
        assert answer.status_code == 404, path
    for path in ("/logs", "/logs/stream"):
        assert client.get(base + path).status_code == 404, path
    app = apps.get(store, "my-app")
    assert (app.buildpacks, app.maintenance) == ([], False)


# -- Logs ----------------------------------------------------------------------------------


def test_logs_page_shows_recent_lines_with_filters(
    client: TestClient, store: Store, logs: LogRouter
) -> None:
    base = _app(store)
    app_id = apps.get(store, "my-app").id
    logs.publish(app_id, "app", "web.1", "hello from web")
    logs.publish(app_id, "heroku", "router", "at=info path=/")
    log_in(client, "a@example.com")
    page = unescape(client.get(base + "/logs").text)
    assert "hello from web" in page and "at=info path=/" in page
    assert 'data-stream="/dashboard/apps/my-app/logs/stream"' in page
    only_app = unescape(client.get(base + "/logs?source=app").text)
    assert "hello from web" in only_app and "at=info" not in only_app
    assert "source=app" in only_app  # the tail takes the same filter
    router = unescape(client.get(base + "/logs?dyno=router").text)
    assert "at=info" in router and "hello from web" not in router
    one = unescape(client.get(base + "/logs?lines=1").text)
    assert "at=info" in one and "hello from web" not in one
    for query, message in (
        ("source=nope", "The source must be app or heroku."),
        ("dyno=web%201", "The dyno must be"),
        ("lines=0", "Lines must be a number from 1 to 1500."),
    ):
        for path in ("/logs", "/logs/stream"):
            answer = client.get(f"{base}{path}?{query}")
            assert answer.status_code == 400 and message in unescape(answer.text), query


class _Request:
    """What ``_tail`` reads of its request: at a keepalive, the session cookie and the store."""

    def __init__(self, store: Store | None = None, token: str = "") -> None:
        dash = SimpleNamespace(cookie="cove_session", ctx=SimpleNamespace(store=store))
        self.app = SimpleNamespace(state=SimpleNamespace(dashboard=dash))
        self.cookies = {"cove_session": token}


def _run_tail(
    router: LogRouter,
    app_id: str,
    session: str,
    feed: list[str],
    want: int,
    request: _Request | None = None,
    on_keepalive: Callable[[], None] = lambda: None,
) -> list[str]:
    """The tail's events until ``want`` of them or its end; ``feed`` is published once the
    tail says it is ready."""

    async def main() -> list[str]:
        router.bind_loop(asyncio.get_running_loop())
        lines = router.stream(app_id, 0, LogFilter(source="app"), tail=True)
        events: list[str] = []
        gen = pages_logs._tail(request or _Request(), session, lines)  # type: ignore[arg-type]
        async for event in gen:
            events.append(event.decode())
            if events[-1] == ": keepalive\n\n":
                on_keepalive()
            if "event: ready" in events[-1]:
                for message in feed:
                    router.publish(app_id, "app", "web.1", message)
                    router.publish(app_id, "heroku", "router", "filtered out")
            if len(events) >= want:
                break
        await gen.aclose()
        return events

    return asyncio.run(main())


def test_live_tail_sends_new_lines_then_ends_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_logs, "TAIL_LINES", 2)
    router = LogRouter()
    events = _run_tail(router, "app-1", "s1", ["one", "two", "three"], 10)
    assert events[0] == "event: ready\ndata: \n\n"
    assert "app[web.1]: one" in events[1] and "app[web.1]: two" in events[2]
    assert events[3] == "event: end\ndata: The live tail ended after 2 lines.\n\n"
    assert len(events) == 4
    assert router._log("app-1").tails == set()  # the subscriber is gone
    assert pages_logs._open_tails == {}


def test_live_tails_per_session_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_logs, "_open_tails", pages_logs.Counter({"s1": 4}))
    events = _run_tail(LogRouter(), "app-1", "s1", [], 5)
    assert events == ["event: end\ndata: 4 live tails are open already: close one.\n\n"]
    monkeypatch.setattr(pages_logs, "TAIL_SECONDS", 0.0)
    ended = _run_tail(LogRouter(), "app-1", "s2", [], 5)
    assert ended[-1].startswith("event: end\ndata: The live tail ended after 0 minutes")


def test_a_quiet_tail_sends_keepalives_and_ends_at_log_out(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each keepalive checks the session again, without taking the notice a page shows."""
    monkeypatch.setattr(pages_logs, "KEEPALIVE_SECONDS", 0.01)
    account = accounts.create_account(store, "a@example.com", "a-password-123")
    token = sessions.open_session(store, account)
    session_id = sessions.visitor(store, token).session_id  # type: ignore[union-attr]
    sessions.set_flash(store, session_id, "Saved.")
    keepalives = []

    def log_out_at_the_second() -> None:
        keepalives.append(1)
        if len(keepalives) == 2:
            sessions.close_session(store, session_id)

    events = _run_tail(
        LogRouter(), "app-1", "s3", [], 10, _Request(store, token), log_out_at_the_second
    )
    assert events[1:] == [": keepalive\n\n"] * 2 + ["event: end\ndata: You are logged out.\n\n"]


def test_keepalives_leave_the_notice(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_logs, "KEEPALIVE_SECONDS", 0.01)
    account = accounts.create_account(store, "a@example.com", "a-password-123")
    token = sessions.open_session(store, account)
    session_id = sessions.visitor(store, token).session_id  # type: ignore[union-attr]
    sessions.set_flash(store, session_id, "Saved.")
    events = _run_tail(LogRouter(), "app-1", "s4", [], 3, _Request(store, token))
    assert events[1:] == [": keepalive\n\n"] * 2
    assert sessions.visitor(store, token).flash == "Saved."  # type: ignore[union-attr]


def test_nav_has_the_new_tabs(client: TestClient, store: Store) -> None:
    base = _app(store)
    log_in(client, "a@example.com")
    page: Any = client.get(base).text
    for tab in ("/access", "/logs", "/settings"):
        assert f'href="{base}{tab}"' in page


# -- Account -------------------------------------------------------------------------------


def test_change_password_in_the_dashboard(client: TestClient, store: Store) -> None:
    csrf = log_in(client, "a@example.com")
    assert 'href="/dashboard/account"' in client.get("/dashboard/apps").text
    page = unescape(client.get("/dashboard/account").text)
    assert "Current password" in page
    form = "/dashboard/account/password"

    def change(current: str, new: str, again: str | None = None) -> tuple[int, str]:
        return _post(
            client,
            form,
            csrf,
            current_password=current,
            new_password=new,
            new_password_again=new if again is None else again,
        )

    assert change(PASSWORD, "new-password-1", "new-password-2")[1] == (
        "Error: The new password and its repetition differ: nothing changed."
    )
    assert change("wrong", "new-password-1")[1] == (
        "Error: The current password is wrong: the password was not changed."
    )
    assert change(PASSWORD, "short")[1] == "Error: Password must be at least 8 characters."
    assert accounts.password_login(store, "a@example.com", PASSWORD)
    forged = client.post(
        form,
        data={
            "csrf_token": "x",
            "current_password": PASSWORD,
            "new_password": "new-password-1",
            "new_password_again": "new-password-1",
        },
    )
    assert forged.status_code == 403
    other_browser = sessions.open_session(store, accounts.by_email(store, "a@example.com"))
    assert change(PASSWORD, "new-password-1") == (
        200,
        "Your password is changed. Other browsers were logged out.",
    )
    assert accounts.password_login(store, "a@example.com", "new-password-1")
    assert sessions.visitor(store, other_browser) is None
    assert client.get("/dashboard/apps").status_code == 200  # this browser stays in


def test_password_guesses_are_throttled(client: TestClient, store: Store) -> None:
    csrf = log_in(client, "a@example.com")
    for _ in range(10):
        _post(
            client,
            "/dashboard/account/password",
            csrf,
            current_password="guess",
            new_password="new-password-1",
            new_password_again="new-password-1",
        )
    _, notice = _post(
        client,
        "/dashboard/account/password",
        csrf,
        current_password=PASSWORD,
        new_password="new-password-1",
        new_password_again="new-password-1",
    )
    assert notice.startswith("Error: Too many failed attempts. Try again in ")
    assert accounts.password_login(store, "a@example.com", PASSWORD)
