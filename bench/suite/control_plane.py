"""10. Control plane at scale: the API of a `cove server` whose store holds 1,000 apps
and 100,000 releases, beside the same figures with a small store (10 apps, 100 releases).

The store is seeded in-process through the store's own models (so secret columns are
encrypted with the server's key) while the server is stopped; then the server starts on
it and is measured: start-up until `server.json` is written and until the API answers,
its RSS after a warm-up, and p50/p99 of the API calls a developer makes most."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from bench.suite.config import Config
from bench.suite.cove import Cove
from bench.suite.density import rss_mb
from bench.suite.report import Row, Section
from cove.store import Account, App, Release, Store
from cove.store.models import Collaborator, new_id, now
from cove.store.secrets import Keyring

BIG_APP = "bench-big"  # the app with many releases (a tenth of all of them)
CONCURRENCY = 4


def seed(cove: Cove, apps: int, releases: int) -> None:
    """``apps`` apps (config vars, two collaborators each) with ``releases`` releases in
    all: a tenth in BIG_APP, the rest spread evenly."""
    key = cove.home / "secrets.key"  # the harness's server keeps it in COVE_HOME
    store = Store(f"sqlite:///{cove.home / 'cove.db'}", Keyring.from_file(key))
    start = now() - timedelta(days=365)
    with store.session() as s:
        admin = s.scalar(select(Account).where(Account.admin.is_(True)))
        assert admin is not None
        helpers = [{"id": new_id(), "email": f"dev{i}@example.com"} for i in range(5)]
        s.execute(insert(Account), helpers)
        app_rows = []
        for i in range(apps):
            name = BIG_APP if i == 0 else f"bench-app-{i:04d}"
            config = {f"VAR_{k}": f"value-{k}-{'x' * 20}" for k in range(8)}
            app_rows.append({"id": new_id(), "name": name, "owner_id": admin.id, "config": config})
        s.execute(insert(App), app_rows)
        s.execute(
            insert(Collaborator),
            [
                {"app_id": a["id"], "account_id": helpers[(n + k) % len(helpers)]["id"]}
                for n, a in enumerate(app_rows)
                for k in range(2)
            ],
        )
        big = releases // 10
        per_app = (releases - big) // max(1, apps - 1) if apps > 1 else 0
        batch: list[dict[str, Any]] = []
        for n, a in enumerate(app_rows):
            count = big if n == 0 else per_app
            for v in range(1, count + 1):
                when = start + timedelta(minutes=v)
                batch.append(
                    {
                        "id": new_id(),
                        "app_id": a["id"],
                        "version": v,
                        "description": f"Set VAR_{v % 8} config vars",
                        "config": a["config"],
                        "user_id": admin.id,
                        "created_at": when,
                        "updated_at": when,
                    }
                )
            if len(batch) >= 5000:
                s.execute(insert(Release), batch)
                batch = []
        if batch:
            s.execute(insert(Release), batch)
    store.engine.dispose()


def latencies(call: Callable[[httpx.Client, int], httpx.Response], count: int) -> dict[str, Any]:
    """p50/p99 (ms) of ``count`` calls, CONCURRENCY at a time, each on its own client."""
    times: list[float] = []

    def worker(w: int, client: httpx.Client) -> None:
        for i in range(w, count, CONCURRENCY):
            t0 = time.perf_counter()
            response = call(client, i)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code < 300, (response.status_code, response.text[:200])

    clients = [client_for_cove() for _ in range(CONCURRENCY)]
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(worker, range(CONCURRENCY), clients))
    finally:
        for c in clients:
            c.close()
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "requests": len(times),
    }


_current: Cove | None = None


def client_for_cove() -> httpx.Client:
    assert _current is not None
    server = _current.server
    return httpx.Client(
        base_url=server.api_url,
        verify=server.verify,
        timeout=60,
        headers={
            "Authorization": f"Bearer {server.admin_token}",
            "Accept": "application/vnd.heroku+json; version=3",
        },
    )


def measure(apps: int, releases: int, requests: int) -> dict[str, Any]:
    global _current
    with Cove() as cove:
        _current = cove
        cove.server.stop()
        t0 = time.perf_counter()
        seed(cove, apps, releases)
        seeded = time.perf_counter() - t0
        t0 = time.perf_counter()
        cove.server.start()
        ready = time.perf_counter() - t0
        with client_for_cove() as c:
            while c.get("/account").status_code != 200:  # answered once server.json exists
                time.sleep(0.01)
        answering = time.perf_counter() - t0
        small = max(1, requests // 10)
        for _ in range(3):  # warm-up: every route once
            with client_for_cove() as c:
                c.get("/apps")
                c.get(f"/apps/{BIG_APP}/releases")
        out: dict[str, Any] = {"seed_s": round(seeded, 1)}
        out["startup_ready_s"] = round(ready, 3)
        out["startup_answering_s"] = round(answering, 3)
        out["apps_list"] = latencies(lambda c, i: c.get("/apps"), small)
        out["app_info"] = latencies(lambda c, i: c.get(f"/apps/{BIG_APP}"), requests)
        out["releases_all"] = latencies(lambda c, i: c.get(f"/apps/{BIG_APP}/releases"), small)
        out["releases_range"] = latencies(
            lambda c, i: c.get(
                f"/apps/{BIG_APP}/releases",
                headers={"Range": "version ..; max=10, order=desc"},
            ),
            requests,
        )
        out["config_set"] = latencies(
            lambda c, i: c.patch(f"/apps/{BIG_APP}/config-vars", json={"BENCH_N": str(i)}),
            small,
        )
        out["rss_mb"] = round(rss_mb(cove.pid), 1)
        _current = None
    return out


FIGURES = [
    ("apps_list", "GET /apps"),
    ("app_info", "GET /apps/{app}"),
    ("releases_all", "GET /apps/{app}/releases"),
    ("releases_range", "  ... Range max=10 desc"),
    ("config_set", "PATCH config-vars"),
]


def run(config: Config) -> Section:
    section = Section("control-plane")
    requests = config.control_plane_requests
    small = measure(10, 100, requests)
    big = measure(1000, 100_000, requests)
    section.raw = {"small": small, "big": big, "concurrency": CONCURRENCY}
    name = "small store (10 apps, 100 releases)"
    for key, label in FIGURES:
        for stat in ("p50", "p99"):
            section.rows.append(
                Row(
                    f"{label} {stat}, 1k apps/100k rel",
                    "ms",
                    big[key][f"{stat}_ms"],
                    small[key][f"{stat}_ms"],
                    "small store",
                    target="(info)",
                )
            )
    section.rows += [
        Row(
            "cove server RSS, 1k apps/100k rel",
            "MB",
            big["rss_mb"],
            small["rss_mb"],
            "small store",
            target="(info)",
        ),
        Row(
            "start-up to server.json, 1k/100k",
            "s",
            big["startup_ready_s"],
            small["startup_ready_s"],
            "small store",
            target="(info)",
        ),
        Row(
            "start-up to API answering, 1k/100k",
            "s",
            big["startup_answering_s"],
            small["startup_answering_s"],
            "small store",
            target="(info)",
            note=f"reference: the {name}; {BIG_APP} holds 10% of the releases; "
            f"{CONCURRENCY} concurrent clients",
        ),
    ]
    return section
