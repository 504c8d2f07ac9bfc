"""2. Promote and rollback: the request -> the other release serving, against the bare boot
of the same slug's gunicorn (what replacing a dyno can't avoid). Rollback is `cove
releases:rollback vN` until the old text is served; promotion is `POST
/pipeline-promotions` until every target serves the source's text (bench.suite.promote)."""

from __future__ import annotations

import statistics
import time

from bench.suite.config import Config
from bench.suite.cove import FIRST_TEXT, FLASK_HELLO, Cove, boot_time
from bench.suite.promote import measure as measure_promotion
from bench.suite.report import Row, Section

TARGET_S = 1.0
APP = "bench-rollback"


def run(config: Config) -> Section:
    section = Section("rollback")
    with Cove() as cove:
        old_text, new_text = FIRST_TEXT[FLASK_HELLO], "Hello again!"
        repo = cove.deploy(FLASK_HELLO, APP)
        old_version = cove.server.api("GET", f"/apps/{APP}/releases").json()[-1]["version"]
        cove.change_text(repo, FLASK_HELLO, old_text, new_text)
        cove.push_until_serving(repo, APP, new_text)
        new_version = old_version + 1

        serving: list[float] = []
        cli: list[float] = []
        targets = [(old_version, old_text), (new_version, new_text)]
        for i in range(config.rollback_runs):
            version, text = targets[i % 2]
            start = time.perf_counter()
            cove.user.cove("releases:rollback", f"v{version}", cwd=repo)
            cli.append(time.perf_counter() - start)
            cove.wait_serving(APP, text, 60)
            serving.append(time.perf_counter() - start)
            time.sleep(0.5)  # let the replaced dyno finish stopping

        slug = cove.slug_dir(APP)
        boots = [boot_time(slug, 1)["serving_s"] for _ in range(config.rollback_runs)]
        promotions = {n: measure_promotion(cove, n, config.rollback_runs) for n in (1, 3)}
    section.raw = {
        "rollback_s": serving,
        "cli_returned_s": cli,
        "bare_gunicorn_boot_s": boots,
        "promotion": promotions,
    }
    cove_s, boot_s = statistics.median(serving), statistics.median(boots)
    section.rows = [
        Row(
            "rollback -> old text served",
            "s",
            cove_s,
            boot_s,
            "bare gunicorn boot",
            target=f"<= {TARGET_S:g} s",
            ok=cove_s <= TARGET_S,
        ),
        Row(
            "promote -> served, 1 target",
            "s",
            promotions[1]["warm_median_s"],
            boot_s,
            "bare gunicorn boot",
            target=f"<= {TARGET_S:g} s",
            ok=promotions[1]["warm_median_s"] <= TARGET_S,
        ),
        Row(
            "promote -> served on all, 3 targets",
            "s",
            promotions[3]["warm_median_s"],
            boot_s,
            "bare gunicorn boot",
        ),
    ]
    return section
