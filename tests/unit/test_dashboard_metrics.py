"""The dashboard's Metrics tab through the whole API app (TestClient): what the store has
for the app shows as plot points, the summary and the tables, for the last hour or day;
a stranger gets 404."""

from __future__ import annotations

import re
import time
from html import unescape

from fastapi.testclient import TestClient

from cove.dashboard.charts import Series, clock, line_chart
from cove.metrics import Recorder, history
from cove.services import accounts, apps
from cove.store import Store
from tests.unit import test_dashboard
from tests.unit.test_dashboard import log_in

# The dashboard tests' fixtures: an API app with two accounts, cheap password hashes.
cheap_hashes, client, logs = test_dashboard.cheap_hashes, test_dashboard.client, test_dashboard.logs

MB = 1024 * 1024


def _record(store: Store, app_id: str, minutes_ago: int, *statuses: int) -> None:
    at = (time.time() // 60 - minutes_ago) * 60
    rec = Recorder({"my-app": app_id}, at)
    for i, status in enumerate(statuses):
        rec.request("my-app", status, (10 + i) / 1000, "H12" if status == 503 else None)
    rec.memory(app_id, "web.1", 100 * MB)
    rec.memory(app_id, "web.1", 120 * MB)
    rec.dyno_error(app_id, "R14")
    history.save(store, rec.roll(at + 59), at + 59)


def _total(html: str, name: str) -> str:
    found = re.search(rf'data-total="{name}">([^<]*)<', html)
    assert found is not None, name
    return found.group(1)


def _chart_points(html: str, chart: str) -> int:
    found = re.search(rf'data-chart="{chart}" data-points="(\d+)"', html)
    assert found is not None, chart
    return int(found.group(1))


def test_metrics_show_what_the_router_and_dynos_recorded(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    app = apps.create(store, owner.id, "my-app")
    _record(store, app.id, 5, 200, 200, 200, 404, 503)
    _record(store, app.id, 3 * 60, 200, 302)  # three hours ago: in the day, not the hour
    log_in(client, "a@example.com")

    hour = client.get("/dashboard/apps/my-app/metrics")
    assert hour.status_code == 200
    html = unescape(hour.text)
    assert 'aria-current="page">Metrics<' in html
    assert _total(html, "requests") == "5"
    assert [_total(html, c) for c in ("2xx", "3xx", "4xx", "5xx")] == ["3", "0", "1", "1"]
    assert _total(html, "p50") == "12 ms"  # of 10, 11, 12, 13, 14 ms
    assert _total(html, "H12") == "1" and _total(html, "R14") == "1"
    # A point each where something happened (zeros are drawn as the line, without a dot).
    assert _chart_points(html, "throughput") == 3  # 2xx, 4xx, 5xx at one minute
    assert _chart_points(html, "response-time") == 3  # p50, p95, p99
    assert _chart_points(html, "memory") == 1
    assert 'data-series="web.1"' in html
    assert ">110</td>" in html  # the mean of 100 and 120 MB, in the memory table
    assert 'data-series="4xx" data-total="1"' in html

    day = unescape(client.get("/dashboard/apps/my-app/metrics?range=24h").text)
    assert _total(day, "requests") == "7"
    assert _total(day, "3xx") == "1"
    assert "Throughput (requests per 10 minutes)" in day

    unknown = unescape(client.get("/dashboard/apps/my-app/metrics?range=1y").text)
    assert _total(unknown, "requests") == "5"  # an unknown range: the last hour


def test_an_app_with_nothing_recorded_says_so(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    apps.create(store, owner.id, "my-app")
    log_in(client, "a@example.com")
    html = unescape(client.get("/dashboard/apps/my-app/metrics").text)
    assert _total(html, "requests") == "0"
    assert _total(html, "p99") == "-"
    assert html.count("Nothing recorded in this period.") == 4


def test_a_stranger_gets_404(client: TestClient, store: Store) -> None:
    owner = accounts.by_email(store, "a@example.com")
    apps.create(store, owner.id, "my-app")
    log_in(client, "b@example.com")
    answer = client.get("/dashboard/apps/my-app/metrics")
    assert answer.status_code == 404
    assert "Couldn't find that app." in unescape(answer.text)


def test_a_plot_breaks_its_line_where_there_is_nothing_and_tables_skip_it() -> None:
    minutes = [29_000_000 + i for i in range(5)]
    chart = line_chart(
        "t",
        "Response time (ms)",
        "ms",
        minutes,
        [Series("p50", [10, None, None, 30, 0])],
    )
    (drawn,) = chart.series
    assert drawn.path.count("M") == 2 and drawn.path.count("L") == 1  # two runs
    assert len(drawn.dots) == 2 and chart.points == 2  # no dot on the zero
    assert [when for when, _ in chart.rows] == [clock(minutes[0]), clock(minutes[3])]
    assert [label for _, label in chart.y_ticks] == ["0", "10", "20", "30"]
    assert not chart.empty
    assert line_chart("e", "Errors", "errors", minutes, [Series("H12", [0] * 5)]).empty
