"""The Metrics tab: response time (p50, p95, p99), throughput by status class, memory per
dyno and H/R errors, over the last hour (a point a minute) or day (a point per 10 minutes),
from what the router and the dyno manager record (cove.metrics)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import views
from cove.dashboard.charts import Chart, Series, line_chart
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import dashboard, page, render
from cove.domain.dyno_sizes import MB
from cove.metrics import history

CLASSES = (
    ("2xx", 2, "#1a7f37"),
    ("3xx", 3, "#0b6bcb"),
    ("4xx", 4, "#8a5a00"),
    ("5xx", 5, "#c0262d"),
)
PERCENTILES = (("p50", 50, "#0b6bcb"), ("p95", 95, "#8a3ffc"), ("p99", 99, "#c0262d"))


def charts(data: history.Series) -> list[Chart]:
    points = data.points
    minutes = [p.minute for p in points]
    per = "minute" if data.range.step == 1 else f"{data.range.step} minutes"
    latency = [
        Series(name, [p.percentile(q) for p in points], colour) for name, q, colour in PERCENTILES
    ]
    throughput = [
        Series(name, [p.statuses[i] for p in points], colour) for name, i, colour in CLASSES
    ]
    memory = [Series(dyno, [_mean_mb(p.memory.get(dyno)) for p in points]) for dyno in data.dynos]
    errors = [Series(code, [p.errors.get(code, 0) for p in points]) for code in data.error_codes]
    return [
        line_chart("response-time", "Response time (ms)", "ms", minutes, latency),
        line_chart(
            "throughput", f"Throughput (requests per {per})", "requests", minutes, throughput
        ),
        line_chart("memory", "Memory per dyno (MB, mean)", "MB", minutes, memory),
        line_chart("errors", f"Errors (H and R codes, per {per})", "errors", minutes, errors),
    ]


def _mean_mb(stats: list[int] | None) -> float | None:
    if not stats:
        return None
    return round(stats[1] / stats[0] / MB, 1)


def _metrics(request: Request, visitor: Visitor, range_: history.Range) -> dict[str, Any]:
    dash = dashboard(request)
    app = views.find_app(dash.ctx.store, request.path_params["app"], visitor.account)
    header = views.app_header(dash.ctx.store, dash.ctx.settings, app)
    data = history.series(dash.ctx.store, app.id, range_, time.time())
    totals = [0] * 6
    errors: dict[str, int] = {}
    for point in data.points:
        totals = [a + b for a, b in zip(totals, point.statuses, strict=True)]
        for code, n in point.errors.items():
            errors[code] = errors.get(code, 0) + n
    return {
        **header,
        "range": range_,
        "ranges": list(history.RANGES.values()),
        "charts": charts(data),
        "requests": sum(totals),
        "classes": [(name, totals[i]) for name, i, _ in CLASSES],
        "percentiles": [(name, data.percentile(q)) for name, q, _ in PERCENTILES],
        "errors": sorted(errors.items()),
    }


@page
async def metrics(request: Request, visitor: Visitor) -> Response:
    range_ = history.RANGES.get(request.query_params.get("range", ""), history.RANGES["1h"])
    data = await run_in_threadpool(_metrics, request, visitor, range_)
    return render(request, "metrics.html", visitor, tab="metrics", **data)
