"""Seed 000's staging → production workflow with the real CLI: two apps from one repo (git
remotes `staging` and `prod`), one pipeline, config vars per app, and `pipelines:promote`
releasing staging's slug on production (no build) with production's own config; a failing
release phase on one of two targets; the error paths."""

from __future__ import annotations

import re
import sqlite3

from tests.e2e.harness import CoveServer, User, wait_for

PROD = "realpython-example-app"
STAGING = "realpython-example-app-staging"


def releases(server: CoveServer, app: str) -> list[dict[str, object]]:
    return server.api("GET", f"/apps/{app}/releases").json()  # type: ignore[no-any-return]


def builds_of(server: CoveServer, app: str) -> int:
    """Build records of the app, read from the store (the API has no build listing)."""
    app_id = server.api("GET", f"/apps/{app}").json()["id"]
    with sqlite3.connect(f"file:{server.home / 'cove.db'}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM builds WHERE app_id = ?", (app_id,)).fetchone()
    return int(count)


def serves(server: CoveServer, app: str, text: str) -> bool:
    response = server.get(app)
    return response.status_code == 200 and response.text == text


def test_seed_staging_to_production_workflow(user: User, server: CoveServer) -> None:
    repo = user.new_repo("config-example", "realpython")
    user.cove("apps:create", PROD, cwd=repo)
    created = user.cove("apps:create", STAGING, "--remote", "staging", cwd=repo)
    assert f"{server.api_url}/{STAGING}.git" in created.stdout
    assert (
        user.git("remote", "get-url", "staging", cwd=repo)
        .stdout.strip()
        .endswith(f"/{STAGING}.git")
    )
    user.push(repo, "main", remote="staging")

    out = user.cove(
        "pipelines:create", "--app", PROD, "--stage", "production", PROD, cwd=repo
    ).stdout
    assert f"Creating {PROD} pipeline... done" in out
    assert f"Adding ⬢ {PROD} to {PROD} pipeline as production... done" in out
    user.cove("git:remote", "--app", PROD, "--remote", "prod", cwd=repo)
    assert user.git("remote", "get-url", "prod", cwd=repo).stdout.strip().endswith(f"/{PROD}.git")
    out = user.cove("pipelines:add", PROD, "--app", STAGING, "--stage", "staging", cwd=repo).stdout
    assert f"Adding ⬢ {STAGING} to {PROD} pipeline as staging... done" in out

    info = user.cove("pipelines:info", PROD, cwd=repo).stdout
    assert info.startswith(f"=== {PROD}\n")
    assert re.search(rf"{STAGING}\s+staging\n{PROD}\s+production", info), info
    assert PROD in user.cove("pipelines", cwd=repo).stdout.splitlines()
    assert re.search(
        rf"Pipeline: +{PROD} - production", user.cove("apps:info", "-r", "prod", cwd=repo).stdout
    )
    coupling = server.api("GET", f"/apps/{STAGING}/pipeline-couplings").json()
    assert coupling["pipeline"]["name"] == PROD and coupling["stage"] == "staging"

    # Config per environment, chosen by git remote (the seed's exact commands).
    user.cove(
        "config:set",
        "--remote",
        "staging",
        "SECRET_KEY=the-staging-key",
        "APP_SETTINGS=config.StagingConfig",
        cwd=repo,
    )
    config = user.cove("config", "--remote", "staging", cwd=repo).stdout
    assert "APP_SETTINGS: config.StagingConfig" in config
    assert "SECRET_KEY:   the-staging-key" in config
    user.cove(
        "config:set",
        "--remote",
        "prod",
        "SECRET_KEY=the-production-key",
        "APP_SETTINGS=config.ProductionConfig",
        cwd=repo,
    )
    wait_for(
        lambda: serves(server, STAGING, "The configured secret key is the-staging-key."),
        60,
        what="staging to serve its config",
    )
    assert server.get(PROD).status_code != 200  # production has never been deployed

    diff = user.cove("pipelines:diff", "--remote", "staging", cwd=repo).stdout
    assert f"{STAGING} was not compared to {PROD} as {PROD} does not have any releases" in diff

    staging_release = releases(server, STAGING)[-1]
    slugs_before = sorted(p.name for p in (server.home / "slugs").glob("*.tar.zst"))
    promoted = user.cove("pipelines:promote", "--remote", "staging", cwd=repo).stdout
    assert "Starting promotion to production..." in promoted
    match = re.search(rf"Promoting {STAGING} to {PROD} \(production\)\.\.\. done, v(\d+)", promoted)
    assert match, promoted
    assert "Promotion successful" in promoted
    assert re.search(rf"{PROD}: succeeded", promoted)

    wait_for(
        lambda: serves(server, PROD, "The configured secret key is the-production-key."),
        60,
        what="production to serve staging's code with its own config",
    )
    prod_release = releases(server, PROD)[-1]
    assert prod_release["version"] == int(match.group(1)) and prod_release["current"]
    assert prod_release["slug"] == staging_release["slug"]  # the same slug id
    assert prod_release["description"] == f"Promote {STAGING} v{staging_release['version']}"
    assert builds_of(server, PROD) == 0  # no build record
    assert sorted(p.name for p in (server.home / "slugs").glob("*.tar.zst")) == slugs_before
    assert "SECRET_KEY:   the-production-key" in user.cove("config", "-r", "prod", cwd=repo).stdout

    # A new version on staging only, then diff and promote again.
    (repo / "app.py").write_text(
        (repo / "app.py").read_text().replace("The configured", "This is yet another version:")
    )
    user.commit_all(repo, "Another change to the welcome message")
    user.push(repo, "main", remote="staging")
    assert serves(server, STAGING, "This is yet another version: secret key is the-staging-key.")
    assert serves(server, PROD, "The configured secret key is the-production-key.")
    diff = user.cove("pipelines:diff", "--remote", "staging", cwd=repo).stdout
    assert f"=== {STAGING} is ahead of {PROD} by 1 commit" in diff
    assert "Another change to the welcome message  (Dev)" in diff
    # Outside the repository the commits can't be listed: their ids are shown instead.
    elsewhere = user.cove("pipelines:diff", "-a", STAGING).stdout
    assert re.search(rf"=== {STAGING} is at [0-9a-f]{{7}}, {PROD} at [0-9a-f]{{7}}", elsewhere)
    assert "doesn't have both commits" in elsewhere
    user.cove("pipelines:promote", "--remote", "staging", cwd=repo)
    wait_for(
        lambda: serves(
            server, PROD, "This is yet another version: secret key is the-production-key."
        ),
        60,
        what="the second promotion to serve",
    )
    assert builds_of(server, PROD) == 0
    assert (
        f"{STAGING} is up to date with {PROD}"
        in user.cove("pipelines:diff", "-a", STAGING, cwd=repo).stdout
    )

    # Stage changes, removal, rename and destroy.
    out = user.cove("pipelines:update", "-a", STAGING, "-s", "development", cwd=repo).stdout
    assert f"Changing ⬢ {STAGING} to development... done" in out
    out = user.cove("pipelines:remove", "-a", STAGING, cwd=repo).stdout
    assert f"Removing ⬢ {STAGING}... done" in out
    out = user.cove("pipelines:rename", PROD, "realpython", cwd=repo).stdout
    assert f"Renaming {PROD} pipeline to realpython... done" in out
    out = user.cove("pipelines:destroy", "realpython", cwd=repo).stdout
    assert "Destroying realpython pipeline... done" in out
    assert server.api("GET", f"/apps/{PROD}/pipeline-couplings").status_code == 404
    # The promoted slug outlives the app that built it.
    user.cove("apps:destroy", "-a", STAGING, "--confirm", STAGING, cwd=repo)
    user.cove("ps:restart", "-a", PROD, cwd=repo)
    wait_for(
        lambda: serves(
            server, PROD, "This is yet another version: secret key is the-production-key."
        ),
        60,
        what="production to serve after its source app is gone",
    )


def test_a_failing_release_phase_fails_only_its_target(user: User, server: CoveServer) -> None:
    repo = user.new_repo("release-phase", "phases")
    for app in ("phase-staging", "phase-eu", "phase-us"):
        user.cove("apps:create", app, "--remote", app, cwd=repo)
    user.cove("pipelines:create", "phases", "-a", "phase-staging", "-s", "staging", cwd=repo)
    for app in ("phase-eu", "phase-us"):
        user.cove("pipelines:add", "phases", "-a", app, "-s", "production", cwd=repo)
        user.cove("config:set", "-a", app, f"GREETING={app}", cwd=repo)
    user.push(repo, "main", remote="phase-staging")
    out = user.cove("pipelines:promote", "-a", "phase-staging", cwd=repo).stdout
    assert out.count("release command running in release.") == 2
    for app in ("phase-eu", "phase-us"):
        wait_for(lambda a=app: serves(server, a, f"{a} from release phase app"), 60, what=app)

    # phase-eu's release command will fail from now on (this config release fails too).
    user.cove("config:set", "-a", "phase-eu", "RELEASE_EXIT=1", cwd=repo)
    wait_for(lambda: releases(server, "phase-eu")[-1]["status"] == "failed", 60, what="failed")
    running = [r for r in releases(server, "phase-eu") if r["current"]]

    (repo / "app.py").write_text((repo / "app.py").read_text().replace("from release", "from v2"))
    user.commit_all(repo, "v2")
    user.push(repo, "main", remote="phase-staging")
    promoted = user.cove("pipelines:promote", "-a", "phase-staging", cwd=repo, check=False)
    assert promoted.returncode == 1
    assert "Promoting phase-staging to phase-eu (production)... failed" in promoted.stdout
    assert re.search(
        r"Promoting phase-staging to phase-us \(production\)\.\.\. done, v\d+", promoted.stdout
    )
    assert "Promotion to some apps failed" in promoted.stderr
    assert re.search(
        r"phase-eu: failed\n +The release command of v\d+ failed: phase-eu keeps running its "
        r"current release\.",
        promoted.stdout,
    )
    assert "Running release command on ⬢ phase-eu..." in promoted.stdout
    assert "phase-us: succeeded" in promoted.stdout

    wait_for(lambda: serves(server, "phase-us", "phase-us from v2 phase app"), 60, what="us")
    assert serves(server, "phase-eu", "phase-eu from release phase app")  # untouched
    assert [r for r in releases(server, "phase-eu") if r["current"]] == running
    assert releases(server, "phase-eu")[-1]["status"] == "failed"


def test_pipeline_errors(user: User, server: CoveServer) -> None:
    repo = user.new_repo("config-example", "errors")
    user.cove("apps:create", "err-staging", "--remote", "staging", cwd=repo)
    user.cove("apps:create", "err-prod", "--remote", "prod", cwd=repo)
    user.cove("apps:create", "err-other", "--no-remote", cwd=repo)

    bad = user.cove(
        "pipelines:create", "Bad!", "-a", "err-prod", "-s", "production", cwd=repo, check=False
    )
    assert bad.returncode == 1 and "Pipeline name 'Bad!' is invalid" in bad.stderr
    bad = user.cove("pipelines:create", "errs", "-a", "err-prod", "-s", "qa", cwd=repo, check=False)
    assert bad.returncode == 2 and "'qa' is not one of" in bad.stderr
    bad = server.api(
        "POST", "/pipeline-couplings", json={"app": "err-other", "pipeline": "nope", "stage": "qa"}
    )
    assert bad.status_code == 422 and "Stage 'qa' is invalid" in bad.json()["message"]

    user.cove("pipelines:create", "errs", "-a", "err-prod", "-s", "production", cwd=repo)
    dup = user.cove("pipelines:create", "errs", "-a", "err-other", cwd=repo, check=False)
    assert dup.returncode == 1 and "Name errs is already taken by another pipeline" in dup.stderr
    user.cove("pipelines:add", "errs", "-r", "staging", "-s", "staging", cwd=repo)
    user.cove("pipelines:create", "others", "-a", "err-other", "-s", "staging", cwd=repo)
    twice = user.cove("pipelines:add", "others", "--remote", "staging", cwd=repo, check=False)
    assert twice.returncode == 1
    assert "err-staging is already in pipeline errs" in twice.stderr

    missing = user.cove("pipelines:add", "nope", "-a", "err-other", cwd=repo, check=False)
    assert missing.returncode == 1 and "Pipeline nope not found." in missing.stderr
    missing = user.cove("pipelines:info", "nope", cwd=repo, check=False)
    assert "Pipeline nope not found." in missing.stderr
    assert server.api("GET", "/pipelines/nope").json()["message"] == (
        "Couldn't find that pipeline. (nope)"
    )

    nothing = user.cove("pipelines:promote", "-r", "staging", cwd=repo, check=False)
    assert nothing.returncode == 1
    assert "Cannot promote from err-staging: it has no release with a slug yet" in nothing.stderr
    top = user.cove("pipelines:promote", "-r", "prod", cwd=repo, check=False)
    assert "Cannot promote err-prod from 'production' stage" in top.stderr
    lone = user.cove("pipelines:promote", "-a", "err-other", cwd=repo, check=False)
    assert "no downstream apps in production stage" in lone.stderr
    outside = user.cove(
        "pipelines:promote", "-r", "staging", "--to", "err-other", cwd=repo, check=False
    )
    assert "Cannot find app err-other in pipeline errs" in outside.stderr
    itself = user.cove(
        "pipelines:promote", "-r", "staging", "--to", "err-staging", cwd=repo, check=False
    )
    assert "Cannot promote from an app to itself" in itself.stderr
    alone = user.cove("pipelines:diff", "-a", "err-other", cwd=repo, check=False)
    assert "Cannot diff err-other as there are no downstream apps configured" in alone.stderr
    last = user.cove("pipelines:diff", "-r", "prod", cwd=repo, check=False)
    assert "Unable to diff err-prod: nothing is downstream of the production stage" in last.stderr
    undeployed = user.cove("pipelines:diff", "-r", "staging", cwd=repo, check=False)
    assert undeployed.returncode == 1
    assert "No release was found for err-staging, unable to diff" in undeployed.stderr
    user.cove("pipelines:remove", "-a", "err-other", cwd=repo)
    uncoupled = user.cove("pipelines:promote", "-a", "err-other", cwd=repo, check=False)
    assert uncoupled.returncode == 1 and "⬢ err-other is not in a pipeline." in uncoupled.stderr
    for command in (("pipelines:remove",), ("pipelines:update", "-s", "staging")):
        gone = user.cove(*command, "-a", "err-other", cwd=repo, check=False)
        assert gone.returncode == 1 and "⬢ err-other is not in a pipeline." in gone.stderr
    renamed = user.cove("pipelines:rename", "errs", "others", cwd=repo, check=False)
    assert "Name others is already taken by another pipeline" in renamed.stderr
    no_remote = user.cove("pipelines:promote", "--remote", "nowhere", cwd=repo, check=False)
    assert "Git remote nowhere not found." in no_remote.stderr
