"""Static sites (issue 16 item 4): a built single-page app with a static.json, deployed with
the built-in static buildpack and served through Cove's router."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.e2e.harness import CoveServer, User
from tests.e2e.heroku_cli import HerokuUser

INDEX = "<!doctype html><div id=app></div><script src=/assets/index-3f2a1b9c.js></script>\n"
ASSET = "document.getElementById('app').textContent = 'hello from the bundle';\n" * 20
STATIC_JSON = {
    "root": "dist/",
    "routes": {"/**": "index.html"},
    "headers": {"/**": {"X-Frame-Options": "DENY"}, "/assets/**": {"X-Asset": "yes"}},
    "redirects": {"/old-page": {"url": "/new-page", "status": 302}},
}


def site_repo(user: User, app: str, static_json: dict[str, object] = STATIC_JSON) -> Path:
    """A repository holding a built SPA (dist/ with an index and a fingerprinted bundle)."""
    repo = user.home / app
    (repo / "dist" / "assets").mkdir(parents=True)
    (repo / "dist" / "index.html").write_text(INDEX)
    (repo / "dist" / "assets" / "index-3f2a1b9c.js").write_text(ASSET)
    (repo / "static.json").write_text(json.dumps(static_json, indent=2))
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "built site")
    user.cove("apps:create", app, cwd=repo)
    return repo


def raw_get(server: CoveServer, app: str, target: str) -> tuple[int, bytes]:
    """A request whose target goes to the router exactly as written (no client
    normalizes its dots away)."""
    port = int(server.router_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {server.app_host(app)}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_spa_served_through_the_router(user: User, server: CoveServer) -> None:
    repo = site_repo(user, "spa-site")
    user.cove("buildpacks:set", "cove/static", cwd=repo)
    push = user.push(repo)
    assert "Static HTML app detected" in push.stderr
    assert "Installed Cove's static server" in push.stderr

    index = server.get("spa-site", "/")
    assert (index.status_code, index.text) == (200, INDEX)
    assert index.headers["content-type"] == "text/html; charset=UTF-8"
    assert index.headers["cache-control"] == "no-cache"
    assert index.headers["x-frame-options"] == "DENY"

    route = server.get("spa-site", "/some/client/route")
    assert (route.status_code, route.text) == (200, INDEX)

    asset = server.get("spa-site", "/assets/index-3f2a1b9c.js")
    assert (asset.status_code, asset.text) == (200, ASSET)
    assert asset.headers["content-type"] == "text/javascript; charset=UTF-8"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["x-asset"] == "yes" and "x-frame-options" not in asset.headers
    assert asset.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes it

    missing = server.get("spa-site", "/assets/index-00000000.js")
    assert missing.status_code == 404 and INDEX not in missing.text

    etag = asset.headers["etag"]
    again = server.get("spa-site", "/assets/index-3f2a1b9c.js", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    index_again = server.get(
        "spa-site", "/another/route", headers={"If-None-Match": index.headers["etag"]}
    )
    assert index_again.status_code == 304

    moved = server.get("spa-site", "/old-page")
    assert (moved.status_code, moved.headers["location"]) == (302, "/new-page")

    for target in ("/../static.json", "/%2e%2e/static.json", "/assets/..%2f..%2fstatic.json"):
        status, data = raw_get(server, "spa-site", target)
        assert status in (400, 404), (target, data[:200])
        assert b'"routes"' not in data


def test_static_site_is_detected_without_buildpacks_set(user: User, server: CoveServer) -> None:
    repo = site_repo(user, "plain-site", {"root": "dist/", "clean_urls": True})
    (repo / "dist" / "about.html").write_text("<h1>about</h1>")
    user.commit_all(repo, "about page")
    push = user.push(repo)
    assert "Static HTML app detected" in push.stderr
    assert "heroku-community/static" in user.cove("buildpacks", cwd=repo).stdout
    about = server.get("plain-site", "/about")
    assert (about.status_code, about.text) == (200, "<h1>about</h1>")
    assert server.get("plain-site", "/some/route").status_code == 404  # no routes: no fallback


def test_a_missing_root_fails_the_build(user: User, server: CoveServer) -> None:
    repo = site_repo(user, "unbuilt-site", {"root": "build/"})
    user.cove("buildpacks:set", "heroku-community/static", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert 'The site\'s root "build/" is not a directory of the app' in push.stderr


# A Vite-style project: `npm run build` bundles src/ into dist/ with content-hashed asset
# names (plain node, no Vite download), and static.json serves dist/ as a single-page app.
VITE_BUILD = """
const crypto = require("crypto");
const fs = require("fs");
const code = fs.readFileSync("src/main.js", "utf8");
const hash = crypto.createHash("sha256").update(code).digest("hex").slice(0, 8);
fs.mkdirSync("dist/assets", { recursive: true });
fs.writeFileSync(`dist/assets/index-${hash}.js`, code);
fs.writeFileSync(
  "dist/index.html",
  `<!doctype html><div id="app"></div>` +
    `<script type="module" src="/assets/index-${hash}.js"></script>\\n`
);
console.log(`vite-style build: dist/assets/index-${hash}.js`);
"""


def node_spa_repo(user: User, app: str, main_js: str, build_js: str = VITE_BUILD) -> Path:
    """A Vite-style project (package.json with a `build` script, a lockfile, static.json
    serving dist/ as a single-page app), built by heroku/nodejs then served by static."""
    repo = user.home / app
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "main.js").write_text(main_js)
    (repo / "build.js").write_text(build_js)
    package = {
        "name": app,
        "version": "1.0.0",
        "private": True,
        "engines": {"node": "22.x"},
        "scripts": {"build": "node build.js"},
    }
    (repo / "package.json").write_text(json.dumps(package, indent=2))
    lock = {
        "name": app,
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": app, "version": "1.0.0"}},
    }
    (repo / "package-lock.json").write_text(json.dumps(lock, indent=2))
    (repo / "static.json").write_text(
        json.dumps({"root": "dist/", "routes": {"/**": "index.html"}})
    )
    (repo / ".gitignore").write_text("dist/\nnode_modules/\n")
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "vite-style app")
    user.cove("apps:create", app, cwd=repo)
    user.cove("buildpacks:set", "heroku/nodejs", cwd=repo)
    user.cove("buildpacks:add", "heroku-community/static", cwd=repo)
    return repo


def test_vite_style_app_built_by_node_then_served(user: User, server: CoveServer) -> None:
    repo = node_spa_repo(user, "vite-spa", "document.title = 'built by node';\n")

    push = user.push(repo).stderr
    assert push.index("Running 'build' script") < push.index("Static HTML app detected")
    built = push.split("vite-style build: ", 1)[1].split()[0]  # dist/assets/index-<hash>.js

    index = server.get("vite-spa", "/")
    path = built.removeprefix("dist")  # /assets/index-<hash>.js
    assert index.status_code == 200 and f'src="{path}"' in index.text
    assert index.headers["cache-control"] == "no-cache"
    asset = server.get("vite-spa", path)
    assert (asset.status_code, asset.text) == (200, "document.title = 'built by node';\n")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    route = server.get("vite-spa", "/settings/profile")
    assert (route.status_code, route.text) == (200, index.text)


def test_the_heroku_cli_sets_the_static_buildpack(
    tmp_path: Path, user: User, server: CoveServer
) -> None:
    h = HerokuUser.with_token(tmp_path / "h", user, server.admin_token)
    repo = site_repo(user, "cli-site")
    # The CLI looks the name up in the registry (this server) and installs the URL it gets.
    h.heroku("buildpacks:set", "heroku-community/static", "-a", "cli-site")
    assert h.heroku("buildpacks", "-a", "cli-site").stdout.endswith("heroku-community/static\n")
    assert "Static HTML app detected" in user.push(repo).stderr
    assert server.get("cli-site", "/any/client/route").text == INDEX


def test_an_app_nothing_detects_is_told_about_static_json(user: User, server: CoveServer) -> None:
    repo = user.home / "nothing-here"
    repo.mkdir()
    (repo / "README.md").write_text("just a readme\n")
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "readme")
    user.cove("apps:create", "nothing-here", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "package.json or static.json" in push.stderr


# Seed 001's two apps: a Python API and a single-page frontend deployed as a second app,
# which learns the API's URL from a config var at build time (as Vite's VITE_* variables).
API_PY = """
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"recipes": ["pancakes", "soup"], "path": self.path}).encode()
        self.send_response(200 if self.path == "/recipes" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Api).serve_forever()
"""
CONFIG_BUILD = (
    VITE_BUILD
    + """
fs.writeFileSync("dist/config.js", `window.API_URL = ${JSON.stringify(process.env.API_URL)};\\n`);
const page = fs.readFileSync("dist/index.html", "utf8");
fs.writeFileSync("dist/index.html", page.replace("<div", '<script src="/config.js"></script><div'));
"""
)
FETCH_RECIPES = (
    "fetch(new URL('recipes', window.API_URL)).then((r) => r.json())"
    ".then((data) => { document.getElementById('app').textContent = data.recipes.join(); });\n"
)


def test_spa_calls_the_python_api_app_by_its_url(user: User, server: CoveServer) -> None:
    api = user.home / "smilecook-api"
    api.mkdir()
    (api / "api.py").write_text(API_PY)
    (api / "requirements.txt").write_text("")
    (api / "Procfile").write_text("web: python api.py\n")
    user.git("init", "-q", "-b", "main", cwd=api)
    user.commit_all(api, "api")
    user.cove("apps:create", "smilecook-api", cwd=api)
    user.push(api)
    api_url = server.api("GET", "/apps/smilecook-api").json()["web_url"]

    frontend = node_spa_repo(user, "smilecook-web", FETCH_RECIPES, CONFIG_BUILD)
    user.cove("config:set", f"API_URL={api_url}", "-a", "smilecook-web")
    user.push(frontend)

    # What the browser gets from the frontend names the API app's URL...
    config = server.get("smilecook-web", "/config.js")
    assert config.status_code == 200
    assert config.text == f"window.API_URL = {json.dumps(api_url)};\n"
    index = server.get("smilecook-web", "/").text
    assert '<script src="/config.js"></script>' in index
    bundle = index.split('src="', 2)[2].split('"')[0]  # /assets/index-<hash>.js
    assert server.get("smilecook-web", bundle).text == FETCH_RECIPES
    # ...and that URL, through the router, is the API (allowing the frontend's origin).
    origin = server.api("GET", "/apps/smilecook-web").json()["web_url"].rstrip("/")
    recipes = server.get("smilecook-api", "/recipes", headers={"Origin": origin})
    assert recipes.json()["recipes"] == ["pancakes", "soup"]
    assert recipes.headers["access-control-allow-origin"] == origin
