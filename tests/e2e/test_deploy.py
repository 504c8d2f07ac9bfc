"""The seed's first workflow: create an app, git push it, change it, push again."""

from __future__ import annotations

import re

from tests.e2e.harness import CoveServer, User, processes_mentioning, wait_for


def create_app(user: User, repo: object, name: str) -> None:
    user.cove("apps:create", name, cwd=repo)  # type: ignore[arg-type]


def test_flask_hello_deploys_and_redeploys(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello")
    created = user.cove("apps:create", "hello-seed", cwd=repo)
    assert "hello-seed" in created.stdout
    remotes = user.git("remote", "-v", cwd=repo).stdout
    assert f"{server.api_url}/hello-seed.git" in remotes  # `cove` remote added

    push = user.push(repo)
    out = push.stderr
    for expected in (
        "remote: -----> Python app detected",
        "remote: -----> Installing dependencies",
        "remote:        Procfile declares types -> web",
        "remote: -----> Compressing...",
        "Verifying deploy... done.",
    ):
        assert expected in out, out
    released = re.search(r"Released v(\d+)", out)
    assert released, out
    assert re.search(r"Using Python 3\.\d+", out)  # the interpreter chosen is reported
    assert "https://hello-seed." in out  # the app URL
    assert server.get("hello-seed").text == "Hello World!"

    (repo / "app.py").write_text(
        (repo / "app.py").read_text().replace("Hello World!", "Hello this is the new version!")
    )
    user.commit_all(repo, "Change the welcome message")
    push2 = user.push(repo)
    assert "Restoring cache" in push2.stderr or "nothing changed" in push2.stderr
    second = re.search(r"Released v(\d+)", push2.stderr)
    assert second and int(second.group(1)) == int(released.group(1)) + 1
    assert server.get("hello-seed").text == "Hello this is the new version!"

    releases = user.cove("releases", "-a", "hello-seed").stdout
    assert f"v{second.group(1)}" in releases and "Deploy" in releases

    host = server.api_url.removeprefix("https://")
    netrc = (user.home / ".netrc").read_text()
    assert f"machine {host}" in netrc  # the API host, with its port (as the Heroku CLI)
    assert f"machine {host.split(':')[0]}\n" in netrc  # the git host (curl ignores ports)

    user.cove("git:remote", "-a", "hello-seed", "-r", "production", cwd=repo)
    assert user.git("remote", "get-url", "production", cwd=repo).stdout.strip() == (
        f"{server.api_url}/hello-seed.git"
    )
    opened = user.cove("open", "-a", "hello-seed", cwd=repo).stdout
    assert "https://hello-seed." in opened

    info = user.cove("apps:info", "-a", "hello-seed").stdout
    assert "hello-seed" in info and f"{server.api_url}/hello-seed.git" in info

    ps = user.cove("ps", "-a", "hello-seed").stdout
    assert "web.1: up" in ps and "gunicorn app:app" in ps

    logs = user.cove("logs", "-a", "hello-seed", "-n", "200").stdout
    assert re.search(r"^\S+ app\[web\.1\]: .*Listening at", logs, re.M), logs
    assert re.search(r"^\S+ app\[build\]: -----> Python app detected", logs, re.M), logs
    assert re.search(r"^\S+ app\[api\]: Deploy [0-9a-f]{8} by user ", logs, re.M), logs
    assert re.search(r'^\S+ heroku\[router\]: at=info method=GET path="/" ', logs, re.M), logs


def test_master_and_other_branches(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "branches")
    user.cove("apps:create", "branchy", cwd=repo)
    user.git("checkout", "-q", "-b", "feature", cwd=repo)

    refused = user.push(repo, "feature", check=False)
    assert refused.returncode != 0
    assert "non-deploy branch: feature" in refused.stderr
    assert "git push cove feature:main" in refused.stderr

    assert user.push(repo, "feature:main").returncode == 0
    assert server.get("branchy").text == "Hello World!"

    (repo / "app.py").write_text((repo / "app.py").read_text().replace("World", "master"))
    user.commit_all(repo, "master deploy")
    user.git("branch", "-q", "-f", "master", "HEAD", cwd=repo)
    assert "Released" in user.push(repo, "master").stderr
    assert server.get("branchy").text == "Hello master!"


def test_random_app_name_and_destroy(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "random")
    out = user.cove("apps:create", cwd=repo).stdout
    name = re.search(r"([a-z]+-[a-z]+-\d{4})", out)
    assert name, out
    app = name.group(1)
    assert app in user.cove("apps").stdout
    user.push(repo)
    assert server.get(app).status_code == 200
    dyno_ids = [d["id"] for d in server.api("GET", f"/apps/{app}/dynos").json()]
    assert dyno_ids and processes_mentioning(*dyno_ids)

    refused = user.cove("apps:destroy", "-a", app, "--confirm", "wrong-name", check=False)
    assert refused.returncode != 0
    assert server.api("GET", f"/apps/{app}").status_code == 200

    app_id = server.api("GET", f"/apps/{app}").json()["id"]
    slugs_before = len(list((server.home / "slugs").glob("*.tar.zst")))
    assert (server.home / "cache" / app_id).is_dir()
    user.cove("apps:destroy", "-a", app, "--confirm", app, cwd=repo)
    assert server.api("GET", f"/apps/{app}").status_code == 404
    assert app not in user.cove("apps").stdout
    assert "cove" not in user.git("remote", cwd=repo).stdout
    # No dyno processes survive the app.
    wait_for(lambda: not processes_mentioning(*dyno_ids), 30, what="dyno processes to exit")
    wait_for(
        lambda: (
            not (server.home / "repos" / f"{app}.git").exists()
            and not (server.home / "cache" / app_id).exists()
        ),
        30,
        what="the app's repository and build cache to be removed",
    )
    # Its one slug is gone; other apps' slugs are not touched.
    assert len(list((server.home / "slugs").glob("*.tar.zst"))) == slugs_before - 1
    assert server.get(app).status_code == 404
