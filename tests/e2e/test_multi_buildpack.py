"""Multi-buildpack builds (classic buildpack API): the app's buildpacks run in order, each
later compile sees what the earlier ones exported, every buildpack's .profile.d reaches the
dynos, the last buildpack's default process types are the app's, and an app with no
buildpacks set keeps the one detected on its first build."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.heroku_cli import HerokuUser

# The first buildpack installs a tool and exports it the classic way: into <its dir>/export.
TOOL_BUILDPACK = {
    "detect": """
        #!/usr/bin/env bash
        [ -f "$1/tool.txt" ] && echo "Tool" && exit 0
        exit 1
    """,
    "compile": """
        #!/usr/bin/env bash
        set -euo pipefail
        bp_dir=$(cd "$(dirname "$0")/.." && pwd)
        echo "-----> Installing greet"
        mkdir -p "$1/.tool/bin" "$1/.profile.d"
        printf '#!/bin/sh\\necho "greet: $*"\\n' > "$1/.tool/bin/greet"
        chmod +x "$1/.tool/bin/greet"
        cat > "$bp_dir/export" <<EOF
        export PATH="$1/.tool/bin:\\$PATH"
        export TOOL_FLAVOUR=mint
        EOF
        echo 'export PATH="$HOME/.tool/bin:$PATH"; export TOOL_READY=tool' > "$1/.profile.d/tool.sh"
        if cat "$bp_dir/operator-only" 2>/dev/null; then echo "read operator-only"; fi
    """,
    "release": """
        #!/usr/bin/env bash
        echo "---"
        echo "default_process_types:"
        echo "  web: echo the first buildpack's web must not be used"
        echo "  clock: sleep infinity"
    """,
}

# The second one needs the first's tool and variable during its compile.
APP_BUILDPACK = {
    "detect": """
        #!/usr/bin/env bash
        [ -f "$1/tool.txt" ] && echo "Site" && exit 0
        exit 1
    """,
    "compile": """
        #!/usr/bin/env bash
        set -euo pipefail
        echo "-----> Building the site with $(command -v greet)"
        mkdir -p "$1/public" "$1/.profile.d"
        greet "$TOOL_FLAVOUR" > "$1/public/index.html"
        echo 'export SITE_READY=site' > "$1/.profile.d/site.sh"
        mkdir -p "$1/bin"
        cat > "$1/bin/start-site" <<'EOF'
        #!/usr/bin/env bash
        echo "runtime $TOOL_READY $SITE_READY $(greet dyno)" >> public/index.html
        exec python3 -m http.server "$PORT" --directory public
        EOF
        chmod +x "$1/bin/start-site"
    """,
    "release": """
        #!/usr/bin/env bash
        echo "---"
        echo "default_process_types:"
        echo '  web: bin/start-site'
    """,
}


def write_buildpack(root: Path, name: str, scripts: dict[str, str]) -> Path:
    bp = root / name
    (bp / "bin").mkdir(parents=True)
    for script, body in scripts.items():
        path = bp / "bin" / script
        path.write_text(textwrap.dedent(body).lstrip())
        path.chmod(0o755)
    bp.chmod(0o755)
    return bp


@pytest.fixture
def packs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("buildpacks")
    root.chmod(0o755)  # builds run as the app's user, who must read them
    tool = write_buildpack(root, "tool-buildpack", TOOL_BUILDPACK)
    # A file the app's user can't read in the original stays unreadable in its copy.
    (tool / "operator-only").write_text("not for apps\n")
    (tool / "operator-only").chmod(0o600)
    return tool, write_buildpack(root, "site-buildpack", APP_BUILDPACK)


def site_repo(user: User, app: str) -> Path:
    repo = user.home / app
    repo.mkdir()
    (repo / "tool.txt").write_text("the tool buildpack detects this file\n")
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "site")
    user.cove("apps:create", app, cwd=repo)
    return repo


def pushed(user: User, repo: Path) -> str:
    """What the push printed, without the padding git adds to remote lines."""
    return "\n".join(line.rstrip() for line in user.push(repo).stderr.splitlines())


def process_types(server: CoveServer, app: str) -> list[str]:
    formation = server.api("GET", f"/apps/{app}/formation").json()
    return sorted(f["type"] for f in formation)


def test_two_buildpacks_hand_over_by_export(
    user: User, server: CoveServer, packs: tuple[Path, Path]
) -> None:
    tool, site = packs
    repo = site_repo(user, "multi-bp")
    user.cove("buildpacks:add", str(site), cwd=repo)
    added = user.cove("buildpacks:add", "--index", "1", str(tool), cwd=repo).stdout
    assert f"  1. {tool}\n  2. {site}\n" in added
    listed = user.cove("buildpacks", cwd=repo).stdout
    assert listed.endswith(f"1. {tool}\n2. {site}\n")

    push = pushed(user, repo)
    assert f"-----> Using buildpacks:\nremote:        1. {tool}\nremote:        2. {site}" in push
    tool_at, site_at = push.index("Tool app detected"), push.index("Site app detected")
    assert tool_at < push.index("Installing greet") < site_at
    assert "Building the site with /app/.tool/bin/greet" in push
    if os.geteuid() == 0:  # builds run as the app's own user
        assert "not for apps" not in push and "read operator-only" not in push
    # Only the last buildpack's default process types: the first one's are ignored.
    assert "Default types for buildpack -> web\n" in push
    assert process_types(server, "multi-bp") == ["web"]

    # Built with the first buildpack's tool and variable; at run time both buildpacks'
    # .profile.d scripts ran (the tool is on the dyno's PATH too).
    assert server.get("multi-bp").text == "greet: mint\nruntime tool site greet: dyno\n"


def test_a_later_buildpack_that_does_not_detect_fails_the_build(
    user: User, server: CoveServer, packs: tuple[Path, Path]
) -> None:
    tool, _ = packs
    repo = site_repo(user, "multi-bp-undetected")
    user.cove("buildpacks:set", str(tool), cwd=repo)
    user.cove("buildpacks:add", "heroku/python", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "Installing greet" in push.stderr  # the first one ran
    assert "The buildpack heroku/python could not detect this app." in push.stderr


def test_detected_buildpack_is_kept_and_a_tool_reaches_python_hooks(
    user: User, server: CoveServer, packs: tuple[Path, Path]
) -> None:
    tool, _ = packs
    repo = user.new_repo("no-procfile", "detected-python")
    hook = repo / "bin" / "post_compile"
    hook.parent.mkdir()
    hook.write_text("#!/usr/bin/env bash\nif command -v greet; then greet from-python; fi\n")
    hook.chmod(0o755)
    (repo / "tool.txt").write_text("\n")
    user.commit_all(repo, "hook")
    user.cove("apps:create", "detected-python", cwd=repo)
    assert "has no Buildpacks" in user.cove("buildpacks", cwd=repo).stdout

    first = pushed(user, repo)
    assert "Using buildpack" not in first and "Python app detected" in first
    # As on Heroku, the first build records what it detected.
    assert user.cove("buildpacks", cwd=repo).stdout.endswith("Buildpack URL\n\nheroku/python\n")

    # The primary language last: the tool buildpack first, its export reaches the Python
    # build's own subprocesses (as Node's PATH reaches collectstatic).
    user.cove("buildpacks:add", "-i", "1", str(tool), cwd=repo)
    (repo / "README").write_text("again\n")
    user.commit_all(repo, "again")
    second = pushed(user, repo)
    assert "greet: from-python" in second
    assert "Default types for buildpack" not in second  # the Python buildpack gives none
    assert "clock" not in process_types(server, "detected-python")


def test_the_heroku_cli_orders_the_buildpacks(
    tmp_path: Path, user: User, server: CoveServer, packs: tuple[Path, Path]
) -> None:
    tool, site = packs
    h = HerokuUser.with_token(tmp_path / "h", user, server.admin_token)
    repo = site_repo(user, "multi-bp-heroku")
    app = ("-a", "multi-bp-heroku")
    # file:// URLs: the CLI sends them as given (a bare path is no URL to it).
    tool_url, site_url = f"file://{tool}", f"file://{site}"

    added = h.heroku("buildpacks:add", site_url, *app).stdout
    assert f"will use {site_url}." in added
    h.heroku("buildpacks:add", "--index", "1", tool_url, *app)
    assert h.heroku("buildpacks", *app).stdout.endswith(f"1. {tool_url}\n2. {site_url}\n")

    # set -i N replaces the buildpack at N; the CLI looks heroku/python up in the registry
    # (this server, HEROKU_BUILDPACK_REGISTRY_URL) and installs the URL it gets.
    h.heroku("buildpacks:set", "-i", "2", "heroku/python", *app)
    assert h.heroku("buildpacks", *app).stdout.endswith(f"1. {tool_url}\n2. heroku/python\n")
    unknown = h.heroku("buildpacks:add", "heroku/ruby", *app, check=False)
    assert unknown.returncode != 0 and "Built-in buildpacks: " in unknown.stderr
    # The same buildpack twice is refused, whichever of its names is given.
    codon = "https://codon-buildpacks.s3.amazonaws.com/buildpacks/heroku/python.tgz"
    again = h.heroku("buildpacks:add", codon, *app, check=False)
    assert again.returncode != 0 and "already set" in again.stderr
    h.heroku("buildpacks:set", "--index", "2", site_url, *app)

    push = pushed(user, repo)
    assert push.index("Tool app detected") < push.index("Site app detected")
    assert server.get("multi-bp-heroku").text.startswith("greet: mint\n")

    cleared = h.heroku("buildpacks:clear", *app).stdout
    assert "Buildpacks cleared." in cleared and "will detect buildpacks normally" in cleared
    assert "has no Buildpacks." in h.heroku("buildpacks", *app).stdout


# A Django app with a package.json for its assets: Node.js builds them, then the Python
# buildpack's collectstatic collects them, with node still on its PATH (the storage below
# stamps the Node version it finds while collecting).
DJANGO_ASSETS_APP = {
    "requirements.txt": "Django==5.2.17\ngunicorn==27.0.1\n",
    "Procfile": "web: gunicorn site_app:application\n",
    "package.json": json.dumps(
        {
            "name": "django-assets",
            "version": "1.0.0",
            "private": True,
            "engines": {"node": "22.x"},
            "scripts": {"build": "node build.js"},
        }
    ),
    "package-lock.json": json.dumps(
        {
            "name": "django-assets",
            "version": "1.0.0",
            "lockfileVersion": 3,
            "requires": True,
            "packages": {"": {"name": "django-assets", "version": "1.0.0"}},
        }
    ),
    "build.js": """
        const fs = require("fs");
        fs.mkdirSync("assets", { recursive: true });
        fs.writeFileSync("assets/bundle.js", `// bundled by node ${process.version}\\n`);
        console.log("build.js wrote assets/bundle.js");
    """,
    "manage.py": """
        import sys

        import site_app  # noqa: F401  (configures Django)
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    """,
    "site_app.py": """
        import json
        import subprocess
        from pathlib import Path

        from django.conf import settings
        from django.contrib.staticfiles.storage import StaticFilesStorage

        HERE = Path(__file__).resolve().parent
        settings.configure(
            DEBUG=False,
            SECRET_KEY="not-a-secret-in-a-test-app",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.staticfiles"],
            STATIC_URL="/static/",
            STATIC_ROOT=HERE / "staticfiles",
            STATICFILES_DIRS=[HERE / "assets"],
            STORAGES={"staticfiles": {"BACKEND": "site_app.NodeStampedStorage"}},
        )


        class NodeStampedStorage(StaticFilesStorage):
            def post_process(self, paths, dry_run=False, **options):
                node = subprocess.run(["node", "--version"], capture_output=True, text=True)
                Path(self.location, "collected-with.txt").write_text(node.stdout.strip())
                yield from ()


        from django.core.wsgi import get_wsgi_application  # noqa: E402
        from django.http import HttpResponse  # noqa: E402
        from django.urls import path  # noqa: E402


        def index(request):
            static = HERE / "staticfiles"
            body = {
                "bundle": (static / "bundle.js").read_text(),
                "collectedWith": (static / "collected-with.txt").read_text(),
            }
            return HttpResponse(json.dumps(body), content_type="application/json")


        urlpatterns = [path("", index)]
        application = get_wsgi_application()
    """,
}


@pytest.mark.parametrize("set_by", ["cli", "app.json"])
def test_django_assets_built_by_node_then_collected_by_python(
    user: User, server: CoveServer, set_by: str
) -> None:
    app = f"django-assets-{set_by.replace('.', '')}"
    repo = user.home / app
    repo.mkdir()
    for name, text in DJANGO_ASSETS_APP.items():
        (repo / name).write_text(textwrap.dedent(text).lstrip())
    if set_by == "app.json":  # read on the first deploy: they become the app's buildpacks
        buildpacks = [{"url": "heroku/nodejs"}, {"url": "heroku/python"}]
        (repo / "app.json").write_text(json.dumps({"buildpacks": buildpacks}))
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "django with assets")
    user.cove("apps:create", app, cwd=repo)
    if set_by == "cli":
        user.cove("buildpacks:set", "heroku/nodejs", cwd=repo)
        user.cove("buildpacks:add", "heroku/python", cwd=repo)

    push = pushed(user, repo)
    node_at, python_at = push.index("Node.js app detected"), push.index("Python app detected")
    assert node_at < push.index("build.js wrote assets/bundle.js") < python_at
    assert python_at < push.index("collectstatic --noinput")
    listed = user.cove("buildpacks", cwd=repo).stdout
    assert listed.endswith("1. heroku/nodejs\n2. heroku/python\n")

    body = wait_for(lambda: server.get(app).json(), what=f"{app} to answer")
    node_version = body["collectedWith"]
    assert node_version.startswith("v22.")  # node was on collectstatic's PATH
    assert body["bundle"] == f"// bundled by node {node_version}\n"
