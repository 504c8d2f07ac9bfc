"""The static buildpack's pure logic (src/cove/builder/buildpacks/static/lib/static_server):
static.json parsing, path patterns, route and header rules, request paths, cache policy."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "src/cove/builder/buildpacks/static/lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))
config = importlib.import_module("static_server.config")
files_mod = importlib.import_module("static_server.files")
routing = importlib.import_module("static_server.routing")


def parse(data: object, **env: str) -> object:
    return config.parse(data, env)


# --- static.json -----------------------------------------------------------------------------


def test_defaults_are_heroku_buildpack_statics() -> None:
    cfg = parse({})
    assert cfg.root == "public_html/"
    assert (cfg.clean_urls, cfg.https_only, cfg.canonical_host) == (False, False, None)
    assert cfg.encoding == "UTF-8" and cfg.access_log is True and cfg.error_page is None


@pytest.mark.parametrize(
    ("root", "expected"),
    [("dist", "dist/"), ("dist/", "dist/"), ("./build//web/", "build/web/"), (".", "./")],
)
def test_root_is_normalized(root: str, expected: str) -> None:
    assert parse({"root": root}).root == expected


@pytest.mark.parametrize("root", ["/etc", "../other", "dist/../../x"])
def test_root_outside_the_app_is_refused(root: str) -> None:
    with pytest.raises(config.ConfigError, match='"root"'):
        parse({"root": root})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ([], "JSON object"),
        ({"clean_urls": "yes"}, '"clean_urls"'),
        ({"https_only": 1}, '"https_only"'),
        ({"routes": ["/**"]}, '"routes"'),
        ({"routes": {"**": "index.html"}}, '"routes"'),
        ({"routes": {"/**": ""}}, '"routes"'),
        ({"routes": {"/**": "../secret"}}, '"routes"'),
        ({"redirects": {"/old": "/new"}}, '"redirects"'),
        ({"redirects": {"/old": {"url": "/new", "status": 200}}}, "status"),
        ({"redirects": {"/old": {"url": "/a b"}}}, "spaces"),
        ({"headers": {"/**": {"Bad Name": "x"}}}, "header name"),
        ({"headers": {"/**": {"Content-Length": "1"}}}, "set by the server"),
        ({"headers": {"/**": {"X-A": "a\r\nSet-Cookie: x"}}}, "control character"),
        ({"headers": {"/**": "no-cache"}}, '"headers"'),
        ({"encoding": "utf 8; x"}, '"encoding"'),
        ({"canonical_host": "a b"}, '"canonical_host"'),
        ({"error_page": 3}, '"error_page"'),
        ({"logging": {"access": "off"}}, '"access"'),
    ],
)
def test_invalid_values_name_their_key(data: object, key: str) -> None:
    with pytest.raises(config.ConfigError, match=key):
        parse(data)


@pytest.mark.parametrize("key", ["proxies", "basic_auth"])
def test_unsupported_features_are_refused_not_ignored(key: str) -> None:
    value = {"/api/": {"origin": "https://x"}} if key == "proxies" else True
    with pytest.raises(config.ConfigError, match=f'"{key}": .*not supported'):
        parse({key: value})


def test_invalid_json_is_an_error() -> None:
    with pytest.raises(config.ConfigError, match="not valid JSON"):
        config.load("{", {})


def test_redirects_default_to_301_and_interpolate_config_vars() -> None:
    cfg = parse(
        {"redirects": {"/a": {"url": "${SITE}/b"}, "/c": {"url": "/${NOPE}", "status": 302}}},
        SITE="https://example.com",
    )
    assert cfg.redirects["/a"] == config.Redirect("https://example.com/b", 301)
    assert cfg.redirects["/c"] == config.Redirect("/${NOPE}", 302)  # unset: left as written


def test_canonical_host_interpolates_and_waits_for_unset_vars() -> None:
    assert parse({"canonical_host": "${HOST}"}, HOST="www.example.com").canonical_host == (
        "www.example.com"
    )
    assert parse({"canonical_host": "${HOST}"}).canonical_host == "${HOST}"


def test_header_values_that_are_not_strings_are_written_as_json() -> None:
    cfg = parse({"headers": {"/x": {"X-Number": 5, "X-Flag": True}}})
    assert cfg.headers_for("/x") == (("X-Number", "5"), ("X-Flag", "true"))


# --- path patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/**", "/", True),
        ("/**", "/a/b/c", True),
        ("/*", "/a", True),
        ("/*", "/a/b", False),
        ("/*.html", "/baz.html", True),
        ("/*.html", "/bar/baz.html", False),
        ("/route/**", "/route/foo/bar", True),
        ("/route/**", "/routes", False),
        ("/cache/*", "/cache/", True),
        ("/a.b", "/aXb", False),  # literal text is literal, not a regex
        ("/foo", "/foo.html", False),
    ],
)
def test_patterns(pattern: str, path: str, matches: bool) -> None:
    assert (config.to_regex(pattern).fullmatch(path) is not None) is matches


def test_the_first_matching_route_wins() -> None:
    cfg = parse({"routes": {"/assets/**": "/assets/", "/**": "index.html"}})
    assert cfg.route_for("/assets/x.js").target == "assets/"
    assert cfg.route_for("/anything").target == "index.html"


def test_the_last_matching_header_rule_wins_whole() -> None:
    cfg = parse({"headers": {"/**": {"X-Foo": "bar", "X-Bar": "baz"}, "/foo": {"X-Foo": "foo"}}})
    assert cfg.headers_for("/foo") == (("X-Foo", "foo"),)
    assert cfg.headers_for("/other") == (("X-Foo", "bar"), ("X-Bar", "baz"))
    assert parse({}).headers_for("/") == ()


# --- request paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("//a///b", "/a/b"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/..", "/a/"),
        ("/%61%2Fb", "/a/b"),
        ("/caf%C3%A9", "/café"),
        ("/..", None),
        ("/../etc/passwd", None),
        ("/a/../../etc/passwd", None),
        ("/%2e%2e/etc/passwd", None),
        ("/%2E%2E%2Fetc", None),
        ("/a%00.html", None),
        ("/%ff", None),
        ("a/b", None),
        ("*", None),
    ],
)
def test_normalize(raw: str, expected: str | None) -> None:
    assert routing.normalize(raw) == expected


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hashed"),
    [
        ("index-3f2a1b.js", True),
        ("index-3f2a1b9c.css", True),
        ("index-BkX3_aQz.js", True),
        ("index-DiwrgTda.js", True),
        ("vendor-react-Cq1x9Zz0.js", True),
        ("main.3f2a1b9c.chunk.js", True),
        ("logo.5d5d9eef.svg", True),
        ("index.html", False),
        ("app.js", False),
        ("my-component.js", False),
        ("app-v2beta.js", False),
        ("jquery-3.7.1.min.js", False),
        ("report-20240101.pdf", False),
        ("components-Settings.js", False),
        ("favicon.ico", False),
        ("3f2a1b9c", False),
    ],
)
def test_fingerprinted_names(name: str, hashed: bool) -> None:
    assert files_mod.fingerprinted(name) is hashed


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("index.html", "text/html; charset=UTF-8"),
        ("a.JS", "text/javascript; charset=UTF-8"),
        ("a.mjs", "text/javascript; charset=UTF-8"),
        ("a.css", "text/css; charset=UTF-8"),
        ("a.json", "application/json; charset=UTF-8"),
        ("a.svg", "image/svg+xml; charset=UTF-8"),
        ("a.woff2", "font/woff2"),
        ("a.png", "image/png"),
        ("a.wasm", "application/wasm"),
        ("LICENSE", "application/octet-stream"),
        ("a.unknownext", "application/octet-stream"),
    ],
)
def test_media_types(name: str, kind: str) -> None:
    assert files_mod.media_type(name, "UTF-8") == kind


def site(tmp_path: Path, data: dict[str, object], **env: str) -> object:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<p>index</p>")
    (root / "assets" / "app-3f2a1b9c.js").write_text("console.log(1)")
    (root / "about.html").write_text("<p>about</p>")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<p>docs</p>")
    (root / "empty").mkdir()
    (root / "404.html").write_text("<p>missing</p>")
    cfg = config.parse({"root": "dist/", **data}, env)
    return routing.Router(cfg, files_mod.Files(str(root)))


def served(decision: object) -> str:
    entry = decision.entry
    return Path(entry.path).read_text() if entry is not None else ""


def test_files_and_directories(tmp_path: Path) -> None:
    router = site(tmp_path, {})
    assert served(router.resolve("/")) == "<p>index</p>"
    assert served(router.resolve("/assets/app-3f2a1b9c.js")) == "console.log(1)"
    assert served(router.resolve("/docs/")) == "<p>docs</p>"
    assert router.resolve("/docs", "?x=1") == routing.Decision(301, location="/docs/?x=1")
    assert router.resolve("/empty/").status == 403
    (tmp_path / "dist" / "café ok").mkdir()
    assert router.resolve("/café ok").location == "/caf%C3%A9%20ok/"  # encoded again
    assert router.resolve("/nope") == routing.NOT_FOUND
    assert router.resolve("/about").status == 404  # no clean_urls


def test_history_fallback_serves_index_but_not_for_missing_assets(tmp_path: Path) -> None:
    router = site(tmp_path, {"routes": {"/**": "index.html"}})
    assert served(router.resolve("/some/client/route")) == "<p>index</p>"
    assert served(router.resolve("/users/john.doe")) == "<p>index</p>"  # not a file type
    assert served(router.resolve("/docs")) == "<p>index</p>"  # a route beats the slash redirect
    assert served(router.resolve("/assets/app-3f2a1b9c.js")) == "console.log(1)"
    assert router.resolve("/assets/app-00000000.js").status == 404
    assert router.resolve("/favicon.ico").status == 404
    assert served(router.resolve("/old.html")) == "<p>index</p>"  # a page may be a page


def test_route_to_a_directory_and_to_a_missing_target(tmp_path: Path) -> None:
    router = site(tmp_path, {"routes": {"/guide/**": "docs/", "/gone/**": "missing.html"}})
    assert served(router.resolve("/guide/a/b")) == "<p>docs</p>"
    assert router.resolve("/gone/x").status == 404


def test_redirects_come_after_files_and_before_routes(tmp_path: Path) -> None:
    router = site(
        tmp_path,
        {
            "routes": {"/**": "index.html"},
            "redirects": {
                "/old/gone": {"url": "/about.html", "status": 302},
                "/about.html": {"url": "/x"},
            },
        },
    )
    assert router.resolve("/old/gone") == routing.Decision(302, location="/about.html")
    assert served(router.resolve("/about.html")) == "<p>about</p>"


def test_clean_urls(tmp_path: Path) -> None:
    router = site(tmp_path, {"clean_urls": True, "routes": {"/**": "index.html"}})
    assert served(router.resolve("/about")) == "<p>about</p>"
    assert served(router.resolve("/about.html")) == "<p>about</p>"
    assert router.resolve("/missing.html").status == 404  # .html paths are files or 404
    assert router.resolve("/docs").location == "/docs/"  # with clean_urls, the slash first


def test_error_page_answers_404s(tmp_path: Path) -> None:
    router = site(tmp_path, {"error_page": "404.html"})
    decision = router.resolve("/nope")
    assert decision.status == 404 and served(decision) == "<p>missing</p>"


def test_a_symlink_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    router = site(tmp_path, {"routes": {"/**": "index.html"}})
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", tmp_path / "dist" / "leak.txt")
    os.symlink(tmp_path, tmp_path / "dist" / "up")
    assert router.resolve("/leak.txt").status == 404
    assert router.resolve("/up/secret.txt").status == 404
    os.symlink(tmp_path / "dist" / "about.html", tmp_path / "dist" / "alias.html")
    assert served(router.resolve("/alias.html")) == "<p>about</p>"  # inside: fine


def test_cache_policy_and_validators(tmp_path: Path) -> None:
    router = site(tmp_path, {"routes": {"/**": "index.html"}})
    index = router.resolve("/client/route").entry
    asset = router.resolve("/assets/app-3f2a1b9c.js").entry
    assert index.cache_control == "no-cache"
    assert asset.cache_control == "public, max-age=31536000, immutable"
    assert index.etag.startswith('"') and index.etag != asset.etag
    (tmp_path / "dist" / "index.html").write_text("<p>changed, longer</p>")
    again = router.resolve("/").entry
    assert again.etag != index.etag and Path(again.path).read_text() == "<p>changed, longer</p>"
