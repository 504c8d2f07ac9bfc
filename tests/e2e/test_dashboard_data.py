"""The dashboard's data pages in a real browser (Debian's Chromium through Playwright)
against a real `cove server`: create a Postgres add-on from Resources, reveal its
credentials, run a dataclip and download its CSV, save it and open it by its URL (a
stranger gets 404); then promote a pipeline's staging app to production with the Deploy
tab's button and see production serve that build. Screenshots go to
tests/artifacts/dashboard/."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.test_dashboard import (
    LIVE,
    OWNER,
    STRANGER,
    Browser,
    _cove,
    _follow,
    _goto,
    _log_in,
    _page,
    _shot,
    browser,
    expect,
    owner,
    server,
)

__all__ = ["browser", "owner", "server"]  # this module's own server, browser and users

APP = "data-app"
STAGING, PRODUCTION = "data-staging", "data-prod"


def test_postgres_addon_credentials_and_dataclips(
    browser: Browser, owner: User, server: CoveServer, tmp_path: Path
) -> None:
    _cove(owner, "apps:create", APP)
    page = _page(browser, server)
    _log_in(page, OWNER)
    _goto(page, f"/dashboard/apps/{APP}/resources")

    # Create, as `cove addons:create heroku-postgresql:essential-0`.
    page.get_by_label("Service").select_option("heroku-postgresql")
    page.get_by_label("Plan").select_option("heroku-postgresql:essential-0")
    page.get_by_role("button", name="Create add-on").click()
    expect(page.locator(".flash")).to_contain_text("(essential-0) as DATABASE.")
    _shot(page, "resources-addon-created")
    addons = server.api("GET", f"/apps/{APP}/addons").json()
    assert [a["plan"]["name"] for a in addons] == ["heroku-postgresql:essential-0"]
    name = addons[0]["name"]

    _follow(page, page.get_by_role("link", name=name, exact=True))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.locator('[data-fact="Status"]')).to_have_text("Available")
    url = server.api("GET", f"/apps/{APP}/config-vars").json()["DATABASE_URL"]
    password = re.search(r"://[^:]+:([^@]+)@", url).group(1)  # type: ignore[union-attr]
    assert password not in page.content()
    _shot(page, "addon")
    page.get_by_role("button", name="Reveal credentials").click()
    expect(page.locator("#credentials")).to_contain_text(url)
    _shot(page, "addon-credentials")
    page.get_by_role("link", name="Hide credentials").click()
    expect(page.get_by_role("button", name="Reveal credentials")).to_be_visible()
    assert password not in page.content()

    # A dataclip: rows as a table, then as CSV.
    page.get_by_label("SQL", exact=True).fill("select 1 as n union select 2 order by n")
    page.get_by_role("button", name="Run").click()
    rows = page.locator("#sql-result tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_text("1")
    expect(rows.nth(1)).to_have_text("2")
    _shot(page, "dataclip-result")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved_csv = tmp_path / "result.csv"
    download.value.save_as(saved_csv)
    assert saved_csv.read_text().splitlines() == ["n", "1", "2"]

    # Read-only: a write is refused, and says why.
    page.get_by_label("SQL", exact=True).fill("create table t (a int)")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#sql-error")).to_contain_text("Dataclips are read-only")
    _shot(page, "dataclip-read-only")

    # Saved, and opened again by its URL.
    page.get_by_label("SQL", exact=True).fill("select 1 as n union select 2 order by n")
    page.get_by_label("Title", exact=True).fill("Two numbers")
    page.get_by_role("button", name="Save dataclip").click()
    expect(page.get_by_role("heading", name="Two numbers")).to_be_visible()
    expect(page).to_have_url(re.compile(r".*/dashboard/dataclips/[0-9a-f-]{36}$"))
    clip_url = page.url
    _goto(page, clip_url)
    expect(page.locator("#sql-result tbody tr")).to_have_count(2)
    _shot(page, "dataclip-saved")

    stranger = _page(browser, server)
    _log_in(stranger, STRANGER)
    for path in (clip_url, f"/dashboard/apps/{APP}/addons/{name}"):
        answer = _goto(stranger, path)
        assert answer is not None and answer.status == 404, path
    expect(stranger.get_by_role("alert")).to_contain_text("Couldn't find that app.")
    _shot(stranger, "addon-stranger")

    # Destroyed only with its name typed.
    _goto(page, f"/dashboard/apps/{APP}/addons/{name}")
    page.get_by_label(re.compile("to confirm")).fill(name)
    page.get_by_role("button", name=f"Destroy {name}").click()
    expect(page.locator(".flash")).to_have_text(f"Destroyed {name}.")
    assert server.api("GET", f"/apps/{APP}/addons").json() == []


def test_promote_from_staging_to_production(
    browser: Browser, owner: User, server: CoveServer
) -> None:
    for app in (STAGING, PRODUCTION):
        _cove(owner, "apps:create", app)
    _cove(owner, "pipelines:create", "data-line", "-a", STAGING, "--stage", "staging")
    _cove(owner, "pipelines:add", "data-line", "-a", PRODUCTION, "--stage", "production")
    repo = owner.new_repo("flask-hello", "data-staging-repo")
    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("Hello World!", "Built once, promoted"))
    owner.commit_all(repo, "A message of its own")
    owner.run(sys.executable, "-m", "cove.cli.main", "git:remote", "-a", STAGING, cwd=repo)
    owner.push(repo)
    wait_for(lambda: server.get(STAGING).text == "Built once, promoted", 90, what="staging")

    page = _page(browser, server)
    _log_in(page, OWNER)
    _goto(page, f"/dashboard/apps/{STAGING}/deploy")
    expect(page.locator("pre").first).to_contain_text(
        re.compile(rf"git remote add cove https://\S+/{STAGING}\.git\s+git push cove main")
    )
    staging = page.locator(f'[data-stage="staging"] [data-app="{STAGING}"]')
    expect(staging).to_contain_text("v2 Deploy")
    expect(page.locator(f'[data-stage="production"] [data-app="{PRODUCTION}"]')).to_contain_text(
        "v1 Initial release"
    )
    _shot(page, "deploy-pipeline")

    page.get_by_role("button", name=f"Promote {STAGING} to production").click()
    expect(page.locator(".flash")).to_have_text(f"Promoted {STAGING} to 1 app.")
    target = page.locator(f'#promotion [data-target="{PRODUCTION}"]')
    expect(target).to_contain_text("succeeded", timeout=LIVE)  # the page follows by itself
    expect(target).to_contain_text("v2")
    _shot(page, "deploy-promoted")
    wait_for(lambda: server.get(PRODUCTION).text == "Built once, promoted", 90, what="production")
    releases = server.api("GET", f"/apps/{PRODUCTION}/releases").json()
    assert releases[-1]["description"] == f"Promote {STAGING} v2"
    builds = server.api("GET", f"/apps/{PRODUCTION}/builds").json()
    assert builds == []  # no rebuild: staging's slug
    _goto(page, f"/dashboard/apps/{PRODUCTION}/deploy")
    expect(page.locator(f'[data-app="{PRODUCTION}"]')).to_contain_text(f"v2 Promote {STAGING} v2")
