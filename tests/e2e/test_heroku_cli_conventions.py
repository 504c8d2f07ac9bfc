"""The real Heroku CLI on what Cove answers for itself: `heroku apps:rename` (the app
answers to its new name, the CLI moves the repo's `heroku` remote, a taken name is
Heroku's error), and the reference lists behind `heroku regions`, `stack` and `labs`."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import CoveServer, User
from tests.e2e.heroku_cli import HerokuUser


def test_heroku_apps_rename(tmp_path: Path, server: CoveServer, user: User) -> None:
    heroku = HerokuUser.with_token(tmp_path / "heroku-home", user, server.admin_token)
    repo = heroku.new_repo("one-off", "hk-rename")
    heroku.heroku("apps:create", "hk-rename-old", cwd=repo)
    heroku.heroku("apps:create", "hk-rename-taken", "--no-remote", cwd=repo)
    old_remote = heroku.git("remote", "get-url", "heroku", cwd=repo).stdout.strip()
    assert old_remote.endswith("/hk-rename-old.git")

    taken = heroku.heroku("apps:rename", "hk-rename-taken", "-a", "hk-rename-old", check=False)
    assert taken.returncode != 0 and "Name is already taken" in taken.stderr

    done = heroku.heroku("apps:rename", "hk-rename-new", "-a", "hk-rename-old", cwd=repo)
    assert "Git remote heroku updated" in done.stdout
    remote = heroku.git("remote", "get-url", "heroku", cwd=repo).stdout.strip()
    assert remote == old_remote.replace("hk-rename-old", "hk-rename-new")
    assert server.api("GET", "/apps/hk-rename-new").json()["name"] == "hk-rename-new"
    assert server.api("GET", "/apps/hk-rename-old").status_code == 404
    info = heroku.heroku("apps:info", cwd=repo)  # the app found through the moved remote
    assert "=== hk-rename-new" in info.stdout


def test_heroku_regions_stack_and_labs(tmp_path: Path, server: CoveServer, user: User) -> None:
    heroku = HerokuUser.with_token(tmp_path / "heroku-home", user, server.admin_token)
    heroku.heroku("apps:create", "hk-reference")
    regions = heroku.heroku("regions").stdout
    assert "local" in regions and "This Cove server" in regions
    assert "* cove-debian-12" in heroku.heroku("stack", "-a", "hk-reference").stdout
    labs = heroku.heroku("labs", "-a", "hk-reference").stdout
    assert "=== App Features hk-reference" in labs
    missing = heroku.heroku("labs:info", "preboot", "-a", "hk-reference", check=False)
    assert missing.returncode != 0 and "Cove has no app features" in missing.stderr
