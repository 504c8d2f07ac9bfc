"""The web dashboard in a real browser (Debian's Chromium through Playwright) against a real
`cove server`: log in, create an app, deploy it with git, watch its dyno come up live on
Overview, set a config var (a new release in Activity), scale web to 2, roll back; a user
who isn't a collaborator gets nothing. A screenshot of each page goes to
tests/artifacts/dashboard/."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import ARTIFACTS, CHROMIUM, ensure_chromium, launch_args
from tests.e2e.harness import CoveServer, User, running_server, wait_for

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright (the dev extra) is missing"
)
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

OWNER, STRANGER = "owner@example.com", "stranger@example.com"
PASSWORD = "dashboard-password-1"
APP = "dash-app"
LIVE = 90_000  # ms: a deploy's dyno coming up, seen through the page's own polling


def _cove(user: User, *args: str, input: str | None = None) -> str:
    return user.run(sys.executable, "-m", "cove.cli.main", *args, input=input).stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """This module's own server, its dynos on the host's network: Chromium aborts whatever
    it is loading (ERR_NETWORK_CHANGED) each time an address on the host changes, which
    every dyno's network namespace (its veth) does as dynos start and stop."""
    with running_server(tmp_path_factory.mktemp("dashboard"), COVE_NETWORK_ISOLATION="off") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = ensure_chromium()
    if missing is not None:
        pytest.skip(missing)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=launch_args())
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> User:
    """A user with a password (the admin makes it), logged in on the CLI to push."""
    admin = User.logged_in(tmp_path_factory.mktemp("admin") / "home", server)
    for email in (OWNER, STRANGER):
        _cove(admin, "users:create", email, "--password-stdin", input=PASSWORD + "\n")
    home = tmp_path_factory.mktemp("owner") / "home"
    home.mkdir()
    user = User(home, server)
    _cove(user, "login", input=f"{OWNER}\n{PASSWORD}\n")
    return user


def _page(browser: Browser, server: CoveServer) -> Page:
    # Cove's own CA signs the API's certificate; this browser profile doesn't know it.
    context = browser.new_context(
        base_url=server.api_url, ignore_https_errors=True, viewport={"width": 1200, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, email: str, keyboard: bool = False, password: str = PASSWORD) -> None:
    """Log in through the form. Chromium may drop the form's POST too (ERR_NETWORK_CHANGED,
    see ``_follow``); logging in again is harmless, so a dropped attempt is repeated."""
    for attempt in range(3):
        _goto(page, "/dashboard/")
        expect(page).to_have_url(re.compile(r".*/dashboard/login"))
        try:
            if keyboard:  # usable from the keyboard alone: focus starts on the email
                page.keyboard.type(email)
                page.keyboard.press("Tab")
                page.keyboard.type(password)
                page.keyboard.press("Enter")
            else:
                page.get_by_label("Email address").fill(email)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Apps")).to_be_visible()
            return
        except (AssertionError, sync_api.Error):
            if attempt == 2 or not page.url.startswith("chrome-error://"):
                raise


def _follow(page: Page, link: sync_api.Locator) -> None:
    """Click a link. Chromium drops a page load when an address on the host changes
    (ERR_NETWORK_CHANGED: other servers' dynos coming and going); loading a link's page
    is safe to repeat, so it is."""
    href = link.get_attribute("href")
    try:
        with page.expect_navigation():
            link.click()
        return
    except sync_api.Error as exc:
        if "ERR_NETWORK_CHANGED" not in str(exc) or href is None:
            raise
    _goto(page, href)


def _goto(page: Page, url: str) -> sync_api.Response | None:
    """``page.goto``, again if Chromium dropped the load (ERR_NETWORK_CHANGED, above, or
    its error page replacing the load)."""
    for attempt in range(3):
        try:
            return page.goto(url)
        except sync_api.Error as exc:
            dropped = "ERR_NETWORK_CHANGED" in str(exc) or "chrome-error://" in str(exc)
            if not dropped or attempt == 2:
                raise
    return None


def _dyno_state(page: Page, name: str) -> sync_api.Locator:
    return page.locator(f'#dynos [data-dyno="{name}"] .state')


def test_owner_deploys_configures_scales_and_rolls_back(
    browser: Browser, owner: User, server: CoveServer
) -> None:
    page = _page(browser, server)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    _goto(page, "/dashboard/login")
    page.get_by_label("Email address").fill(OWNER)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid email or password.")
    _shot(page, "login-refused")
    _log_in(page, OWNER)
    _shot(page, "apps-empty")

    _follow(page, page.get_by_role("link", name="Create new app"))
    page.get_by_label("App name").fill(APP)
    _shot(page, "new-app")
    page.get_by_role("button", name="Create app").click()
    expect(page.get_by_role("heading", name=APP)).to_be_visible()
    expect(page.locator(".flash")).to_have_text(f"Created {APP}.")

    # Deploy with git while the Overview is open: its dyno list follows by itself.
    repo = owner.new_repo("flask-hello", "dash-repo")
    owner.run(sys.executable, "-m", "cove.cli.main", "git:remote", "-a", APP, cwd=repo)
    owner.push(repo)
    expect(_dyno_state(page, "web.1")).to_have_text("up", timeout=LIVE)
    expect(page.locator("#current-release")).to_contain_text("v2 Deploy")  # no reload
    _shot(page, "overview")

    _follow(page, page.get_by_role("link", name="Apps").first)
    row = page.locator("tr", has=page.get_by_role("link", name=APP))
    expect(row).to_contain_text(OWNER)
    expect(row.locator(".state")).to_have_text("up")
    expect(row).to_contain_text("v2")
    _shot(page, "apps")

    # Settings: a config var is a new release, shown in Activity.
    _follow(page, page.get_by_role("link", name=APP))
    _follow(page, page.get_by_role("link", name="Settings", exact=True))
    _follow(page, page.get_by_role("link", name="Reveal config vars"))
    page.get_by_label("Key").fill("GREETING")
    page.get_by_label("Value", exact=True).fill("hello from the dashboard")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Set GREETING config vars: v3.")
    expect(page.get_by_label("Value of GREETING")).to_have_value("hello from the dashboard")
    _shot(page, "settings")
    _follow(page, page.get_by_role("link", name="Activity", exact=True))
    v3 = page.locator('tr[data-release="v3"]')
    expect(v3).to_contain_text("Set GREETING config vars")
    expect(v3).to_contain_text(OWNER)
    _shot(page, "activity")
    config = server.api("GET", f"/apps/{APP}/config-vars").json()
    assert config["GREETING"] == "hello from the dashboard"
    # The deploy's build and what it printed (as `git push` streamed it back).
    build = server.api("GET", f"/apps/{APP}/builds").json()[-1]
    expect(page.locator(f'tr[data-build="{build["id"]}"]')).to_contain_text("succeeded")
    _follow(page, page.locator(f'tr[data-build="{build["id"]}"] a'))
    expect(page.locator("pre.build-output")).to_contain_text("-----> Python app detected")
    expect(page.locator("pre.build-output")).to_contain_text("Launching...")
    _shot(page, "build-output")
    _follow(page, page.get_by_role("link", name="Activity", exact=True))

    # Resources: scale web to 2 (like ps:scale web=2); both come up on Overview.
    _follow(page, page.get_by_role("link", name="Resources", exact=True))
    page.get_by_label("Quantity of web dynos").fill("2")
    page.get_by_role("button", name="Save web scale").click()
    expect(page.locator(".flash")).to_have_text("Scaled to web@2:Standard-1X.")
    _shot(page, "resources")
    _follow(page, page.get_by_role("link", name="Overview", exact=True))
    expect(_dyno_state(page, "web.2")).to_have_text("up", timeout=LIVE)
    expect(_dyno_state(page, "web.1")).to_have_text("up", timeout=LIVE)
    _shot(page, "overview-scaled")
    formation = server.api("GET", f"/apps/{APP}/formation").json()
    assert [(f["type"], f["quantity"]) for f in formation] == [("web", 2)]

    # Activity: roll back to the deploy (v2), which had no GREETING.
    _follow(page, page.get_by_role("link", name="Activity", exact=True))
    page.get_by_role("button", name="Roll back to v2").click()
    expect(page.locator(".flash")).to_have_text("Rollback to v2: v4.")
    expect(page.locator('tr[data-release="v4"]')).to_contain_text("current")
    _shot(page, "activity-rolled-back")
    assert "GREETING" not in server.api("GET", f"/apps/{APP}/config-vars").json()
    wait_for(lambda: server.get(APP).text == "Hello World!", 60, what="the app serving")

    # A phone-sized window: the same page, tables stacked (responsive CSS).
    page.set_viewport_size({"width": 390, "height": 844})
    _follow(page, page.get_by_role("link", name="Overview", exact=True))
    expect(_dyno_state(page, "web.1")).to_have_text("up")
    _shot(page, "overview-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.set_viewport_size({"width": 1200, "height": 900})

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Cove")).to_be_visible()
    _goto(page, f"/dashboard/apps/{APP}")
    expect(page).to_have_url(re.compile(r".*/dashboard/login"))
    assert csp_errors == []


def test_a_stranger_gets_nothing(browser: Browser, owner: User, server: CoveServer) -> None:
    if server.api("GET", f"/apps/{APP}").status_code == 404:
        server.api("POST", "/apps", json={"name": APP})  # (when run alone)
    page = _page(browser, server)
    _log_in(page, STRANGER, keyboard=True)
    expect(page.get_by_role("link", name=APP)).to_have_count(0)
    _shot(page, "apps-stranger")
    builds = server.api("GET", f"/apps/{APP}/builds").json()
    build = builds[-1]["id"] if builds else "none"  # (none when run alone)
    stranger_paths = ("", "/activity", "/settings?reveal=1", "/resources", "/dynos")
    for path in (*stranger_paths, f"/builds/{build}"):
        answer = _goto(page, f"/dashboard/apps/{APP}{path}")
        assert answer is not None and answer.status == 404, path
        expect(page.get_by_role("alert")).to_contain_text("Couldn't find that app.")
    _shot(page, "not-found-stranger")
    assert Path(ARTIFACTS / "not-found-stranger.png").stat().st_size > 0
