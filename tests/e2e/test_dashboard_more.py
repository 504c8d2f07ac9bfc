"""The dashboard's Access, Settings (buildpacks, domains, maintenance, rename, delete) and
Logs pages in a real browser (Debian's Chromium through Playwright) against a real `cove
server`: the first start's admin sets a password with `cove auth:password`, logs in and
changes it on its account page; the owner adds a collaborator (who then sees the app),
watches a request's router line appear live in the Logs tab, puts the app in maintenance
(the router answers 503 with the maintenance page), renames it and deletes it with its
name typed. A screenshot of
each page goes to tests/artifacts/dashboard/."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_dashboard import _cove, _follow, _goto, _log_in, _page, _shot, browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright (the dev extra) is missing"
)
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

OWNER, FRIEND = "owner@example.com", "friend@example.com"
PASSWORD = "dashboard-password-1"
APP, RENAMED = "dash-more", "dash-renamed"
__all__ = ["browser"]  # test_dashboard's browser, for this module too
LIVE = 90_000  # ms: a deploy's dyno coming up


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """Dynos on the host's network: Chromium drops loads (ERR_NETWORK_CHANGED) when a
    dyno's veth comes or goes (see tests/e2e/test_dashboard.py)."""
    with running_server(tmp_path_factory.mktemp("dash-more"), COVE_NETWORK_ISOLATION="off") as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> User:
    return User.logged_in(tmp_path_factory.mktemp("admin") / "home", server)


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory, admin: User) -> User:
    for email in (OWNER, FRIEND):
        _cove(admin, "users:create", email, "--password-stdin", input=PASSWORD + "\n")
    home = tmp_path_factory.mktemp("owner") / "home"
    home.mkdir()
    user = User(home, admin.server)
    _cove(user, "login", input=f"{OWNER}\n{PASSWORD}\n")
    return user


def test_the_first_admin_sets_a_password_and_logs_in(
    browser: Browser, admin: User, server: CoveServer
) -> None:
    email = _cove(admin, "auth:whoami").strip()
    out = _cove(admin, "auth:password", input=f"\n{PASSWORD}\n{PASSWORD}\n")
    assert "Changing your password... done" in out
    page = _page(browser, server)
    _log_in(page, email)
    expect(page.locator(".who")).to_have_text(email)

    # Then changes it in the dashboard (its own account page), and logs in with the new one.
    _follow(page, page.locator(".who"))
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-new-password-2")
    page.get_by_label("New password, again").fill("a-new-password-3")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("repetition differ")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-new-password-2")
    page.get_by_label("New password, again").fill("a-new-password-2")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash")).to_have_text(
        "Your password is changed. Other browsers were logged out."
    )
    _shot(page, "account")
    page.get_by_role("button", name="Log out").click()
    _log_in(page, email, password="a-new-password-2")


def test_access_logs_settings_rename_and_delete(
    browser: Browser, owner: User, server: CoveServer
) -> None:
    _cove(owner, "apps:create", APP)
    repo = owner.new_repo("flask-hello", "dash-more-repo")
    owner.run(sys.executable, "-m", "cove.cli.main", "git:remote", "-a", APP, cwd=repo)
    owner.push(repo)
    wait_for(lambda: server.get(APP).status_code == 200, 60, what="the app serving")

    page = _page(browser, server)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    _log_in(page, OWNER)
    _follow(page, page.get_by_role("link", name=APP))

    # Access: add a collaborator, who then sees the app.
    _follow(page, page.get_by_role("link", name="Access", exact=True))
    page.get_by_label("Email address of a Cove user").fill("nobody@example.com")
    page.get_by_role("button", name="Add collaborator").click()
    expect(page.get_by_role("alert")).to_have_text("Couldn't find that user. (nobody@example.com)")
    page.get_by_label("Email address of a Cove user").fill(FRIEND)
    page.get_by_role("button", name="Add collaborator").click()
    expect(page.locator(".flash")).to_have_text(f"Added {FRIEND} as a collaborator.")
    expect(page.locator(f'tr[data-collaborator="{FRIEND}"]')).to_contain_text("collaborator")
    _shot(page, "access")
    friend = _page(browser, server)
    _log_in(friend, FRIEND)
    expect(friend.get_by_role("link", name=APP)).to_be_visible()
    friend.context.close()

    # Logs: the recent lines, then a request's router line arrives live.
    _follow(page, page.get_by_role("link", name="Logs", exact=True))
    lines = page.locator("#log-lines-list")
    expect(lines).to_contain_text("Deploy")  # history: the deploy's app[api] lines
    expect(lines).to_have_attribute("data-live", "1")
    assert server.get(APP, "/live-from-the-browser-test").status_code == 404
    expect(lines).to_contain_text('path="/live-from-the-browser-test"')
    _shot(page, "logs")
    _goto(page, f"/dashboard/apps/{APP}/logs?source=app")
    expect(page.locator("#log-lines-list")).not_to_contain_text("heroku[router]")
    _shot(page, "logs-filtered")

    # Settings: buildpacks and domains, with their errors.
    _follow(page, page.get_by_role("link", name="Settings", exact=True))
    page.get_by_label("Buildpack", exact=True).fill("heroku/nodejs")
    page.get_by_role("button", name="Add buildpack").click()
    expect(page.locator(".flash")).to_contain_text("Added heroku/nodejs.")
    expect(page.locator('[data-buildpack="heroku/nodejs"]')).to_be_visible()
    page.get_by_label("Buildpack", exact=True).fill("heroku/nodejs")
    page.get_by_role("button", name="Add buildpack").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The buildpack heroku/nodejs is already set on this app."
    )
    page.get_by_label("Hostname").fill("www.example.test")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator('tr[data-domain="www.example.test"]')).to_contain_text(APP)
    page.get_by_label("Hostname").fill("www.example.test")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_role("alert")).to_contain_text("is already taken")
    installed = server.api("GET", f"/apps/{APP}/buildpack-installations").json()
    assert installed[-1]["buildpack"]["url"] == "heroku/nodejs"

    # Maintenance: the router answers 503 with the maintenance page, then the app again.
    page.get_by_role("button", name="Turn maintenance mode on").click()
    expect(page.locator(".flash")).to_have_text("Maintenance mode is on.")
    _shot(page, "settings-more")
    wait_for(lambda: server.get(APP).status_code == 503, 30, what="the maintenance page")
    assert "Offline for Maintenance" in server.get(APP).text
    page.get_by_role("button", name="Turn maintenance mode off").click()
    expect(page.locator(".flash")).to_have_text("Maintenance mode is off.")
    wait_for(lambda: server.get(APP).status_code == 200, 30, what="the app again")

    # Rename: a bad name is refused; then the app and its URL follow the new one.
    page.get_by_label("App name").fill("Not Valid")
    page.get_by_role("button", name="Rename app").click()
    expect(page.get_by_role("alert")).to_contain_text("is invalid")
    page.get_by_label("App name").fill(RENAMED)
    page.get_by_role("button", name="Rename app").click()
    expect(page.get_by_role("heading", name=RENAMED, exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf".*/dashboard/apps/{RENAMED}/settings"))
    wait_for(lambda: server.get(RENAMED).status_code == 200, 30, what="the renamed app")

    # Delete: the name must be typed.
    page.get_by_label(f"Type {RENAMED} to confirm").fill(APP)
    page.get_by_role("button", name="Delete app").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Type {RENAMED} to confirm: nothing was deleted."
    )
    _shot(page, "delete-refused")
    page.get_by_label(f"Type {RENAMED} to confirm").fill(RENAMED)
    page.get_by_role("button", name="Delete app").click()
    expect(page.locator(".flash")).to_have_text(f"Deleted {RENAMED}.")
    expect(page.get_by_role("link", name=RENAMED)).to_have_count(0)
    _shot(page, "apps-after-delete")
    assert server.api("GET", f"/apps/{RENAMED}").status_code == 404
    assert csp_errors == []
