"""The dashboard's server time per page with 100 apps in the store (issue 17 asks for
under 200 ms each): a real migrated SQLite store, 100 apps owned by the visitor, each with
a deploy, a few releases and two dynos; the pages fetched in process through the whole
API app (Starlette's TestClient), and the time read from the ``Server-Timing`` header the
dashboard sends (from the request reaching the dashboard to its answer starting).

    .venv/bin/python -m bench.dashboard_pages            # 30 fetches per page
    ROUNDS=5 .venv/bin/python -m bench.dashboard_pages
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from cove.api import ApiContext, create_api
from cove.logs import LogRouter
from cove.services import accounts, apps, config, formation, releases
from cove.settings import Settings
from cove.store import Dyno, Slug, Store

APPS = 100
PASSWORD = "bench-password-1"


def populate(store: Store) -> str:
    owner = accounts.create_account(store, "owner@example.com", PASSWORD)
    for n in range(APPS):
        app = apps.create(store, owner.id, f"app-{n:03d}")
        with store.session() as s:
            row = apps.find(s, app.id)
            slug = Slug(
                app_id=app.id,
                checksum=f"SHA256:{n:064d}",
                size=1,
                process_types={"web": "gunicorn app:app"},
                stack="heroku-24",
            )
            s.add(slug)
            s.flush()
            formation.ensure_types(s, app.id, ["web"])
            release = releases.append(
                s, row, slug_id=slug.id, description="Deploy 1234abc", user_id=owner.id
            )
            for i in (1, 2):
                s.add(
                    Dyno(
                        app_id=app.id,
                        name=f"web.{i}",
                        type="web",
                        command="gunicorn app:app",
                        state="up",
                        release_version=release.version,
                        revision="r",
                    )
                )
        for k in range(3):
            config.update(store, app.id, {f"VAR_{k}": "x" * 40}, owner.id)
    return "app-050"


def main() -> None:
    rounds = int(os.environ.get("ROUNDS", "30"))
    home = Path(tempfile.mkdtemp(prefix="cove-bench-dashboard-"))
    store = Store(f"sqlite:///{home / 'cove.db'}")
    store.migrate()
    app = populate(store)
    context = ApiContext(Settings(home=home), store, LogRouter(), None, None, None)  # type: ignore[arg-type]
    client = TestClient(create_api(context), base_url="https://testserver")
    form = client.get("/dashboard/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post(
        "/dashboard/login",
        data={"login_token": token, "email": "owner@example.com", "password": PASSWORD},
    )
    pages = {
        "apps list (100 apps)": "/dashboard/apps",
        "apps list, search": "/dashboard/apps?q=app-05",
        "overview": f"/dashboard/apps/{app}",
        "dynos (live fragment)": f"/dashboard/apps/{app}/dynos",
        "activity": f"/dashboard/apps/{app}/activity",
        "settings (revealed)": f"/dashboard/apps/{app}/settings?reveal=1",
        "resources": f"/dashboard/apps/{app}/resources",
    }
    print(f"{APPS} apps, {rounds} fetches per page; server time (Server-Timing), ms")
    print(f"{'page':<24} {'median':>8} {'p90':>8} {'max':>8}")
    for name, path in pages.items():
        times = []
        for _ in range(rounds):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            times.append(float(answer.headers["server-timing"].split("dur=")[1]))
        times.sort()
        p90 = times[int(len(times) * 0.9) - 1]
        print(f"{name:<24} {statistics.median(times):>8.1f} {p90:>8.1f} {times[-1]:>8.1f}")


if __name__ == "__main__":
    main()
