"""The dashboard's Metrics tab in a real browser (Debian's Chromium through Playwright)
against a real `cove server`: deploy an app, send requests through the router (some 404s,
one H14), and see them on the plots and in their tables, for the last hour and the last
day; after a restart the history is still there. Screenshots go to
tests/artifacts/dashboard/metrics*.png."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from tests.e2e import test_dashboard as dash
from tests.e2e.harness import CoveServer, User, running_server, wait_for

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright (the dev extra) is missing"
)
Page = sync_api.Page
expect = sync_api.expect

APP = "metrics-app"

# The dashboard tests' browser and owner (a user with a password, logged in on the CLI).
browser, owner = dash.browser, dash.owner


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """As test_dashboard's server (dynos on the host's network, for Chromium), with metrics
    written every 2 s instead of every minute and memory checked every second."""
    with running_server(
        tmp_path_factory.mktemp("metrics"),
        COVE_NETWORK_ISOLATION="off",
        COVE_METRICS_FLUSH_INTERVAL="2",
        COVE_MEMORY_CHECK_INTERVAL="1",
    ) as srv:
        yield srv


def _total(page: Page, name: str) -> str:
    return page.locator(f'#summary [data-total="{name}"]').inner_text()


def _metrics_show(page: Page, url: str, requests: int) -> None:
    """Reload the Metrics page until it shows ``requests`` (written every 2 s)."""

    def shown() -> bool:
        dash._goto(page, url)
        return _total(page, "requests") == str(requests)

    wait_for(shown, 30, what=f"{requests} requests on the Metrics page")


def test_metrics_plot_the_requests_sent_through_the_router(
    browser: sync_api.Browser, owner: User, server: CoveServer
) -> None:
    dash._cove(owner, "apps:create", APP)
    repo = owner.new_repo("flask-hello", "metrics-repo")
    owner.run(sys.executable, "-m", "cove.cli.main", "git:remote", "-a", APP, cwd=repo)
    owner.push(repo)
    sent: list[int] = []  # the status of every request sent to the app

    def get(path: str = "/") -> int:
        sent.append(server.get(APP, path).status_code)
        return sent[-1]

    wait_for(lambda: get() == 200, 90, what="the app serving")
    for _ in range(19):
        assert get() == 200
    for _ in range(5):
        assert get("/no-such-page") == 404
    # A memory reading of web.1 before it goes: the dyno manager checks every second.
    page = dash._page(browser, server)
    dash._log_in(page, dash.OWNER)
    url = f"/dashboard/apps/{APP}/metrics"
    wait_for(
        lambda: dash._goto(page, url) and page.locator('[data-chart="memory"] li').count(),
        30,
        what="a memory reading",
    )
    server.api("PATCH", f"/apps/{APP}/formation/web", json={"quantity": 0})
    wait_for(lambda: get() == 503, 60, what="H14 with no web dyno")
    total = len(sent)
    by_class = [sum(1 for s in sent if s // 100 == c) for c in (2, 3, 4, 5)]
    assert by_class[2] == 5 and by_class[3] >= 1

    _metrics_show(page, url, total)
    expect(page.get_by_role("link", name="Metrics", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    assert [int(_total(page, c)) for c in ("2xx", "3xx", "4xx", "5xx")] == by_class
    assert int(_total(page, "H14")) >= 1
    assert re.fullmatch(r"\d+ ms", _total(page, "p50"))
    throughput = page.locator('[data-chart="throughput"]')
    assert int(throughput.get_attribute("data-points") or 0) >= 3  # 2xx, 4xx, 5xx dots
    assert throughput.locator('li[data-series="4xx"]').get_attribute("data-total") == "5"
    expect(throughput.locator("svg[role=img] circle").first).to_be_attached()
    for chart in ("response-time", "memory", "errors"):
        assert int(page.locator(f'[data-chart="{chart}"]').get_attribute("data-points") or 0) > 0
    expect(page.locator('[data-chart="memory"] li[data-series="web.1"]')).to_be_visible()
    expect(page.locator('[data-chart="errors"] li[data-series="H14"]')).to_be_visible()
    # Each plot's numbers as a table (for screen readers, and anyone who wants them).
    page.get_by_text("Throughput (requests per minute) as a table").click()
    table = throughput.locator("table")
    expect(table).to_be_visible()
    sums = [0, 0, 0, 0]
    for row in table.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        sums = [a + int(b) for a, b in zip(sums, cells, strict=True)]
    assert sums == by_class
    dash._shot(page, "metrics")

    dash._follow(page, page.get_by_role("link", name="Last 24 hours"))
    expect(page.locator('[data-total="requests"]')).to_have_text(str(total))
    expect(page.get_by_role("heading", name="Throughput (requests per 10 minutes)")).to_be_visible()
    dash._shot(page, "metrics-24h")

    page.set_viewport_size({"width": 390, "height": 844})
    dash._goto(page, url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    dash._shot(page, "metrics-phone")
    page.context.close()

    # A restart keeps the history (and the stopping server writes its last window).
    server.stop()
    server.start()
    page = dash._page(browser, server)
    dash._log_in(page, dash.OWNER)
    _metrics_show(page, url, total)
    dash._shot(page, "metrics-after-restart")
