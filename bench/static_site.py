"""Static sites: wrk against a built single-page app served by Cove's static buildpack
(cove/static) through Cove's router, beside the same server run directly (no router) and
nginx serving the same directory (one worker, like Cove's single router process; sendfile,
ETags, no access log), directly, behind the router alone (`python -m cove.router`) and as
a dyno (the host's nginx, run by the app's Procfile). Interleaved rounds, medians; req/s
and p99 per path.

    .venv/bin/python -m bench.static_site              # 8 s per run, 2 rounds
    SECONDS_PER_RUN=3 ROUNDS=1 .venv/bin/python -m bench.static_site
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.suite.cove import Cove
from bench.suite.tools import (
    ROOT,
    Wrk,
    WrkResult,
    free_port,
    nginx_binary,
    stop_process,
    wait_port,
)

INDEX = "<!doctype html><html><head><title>spa</title></head><body><div id=app></div>" + (
    "<script type=module src=/assets/index-3f2a1b9c.js></script></body></html>\n"
)
ASSET = "export function f(n){return n*2}\n" * 1200  # ~40 KB, a small bundle
PATHS = {"index": "/", "asset": "/assets/index-3f2a1b9c.js", "fallback": "/some/client/route"}
NGINX_CONF = """worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;  # else every 1,000th request closes (wrk: read errors)
    types {{ text/html html; text/javascript js; }}
    sendfile on;
    server {{
        listen 127.0.0.1:{port} backlog=2048;
        root {root};
        location / {{ try_files $uri /index.html; add_header Cache-Control no-cache; }}
        location /assets/ {{ try_files $uri =404; expires max; }}
    }}
}}
"""


# The same site served by the host's nginx in a dyno (web in the Procfile overrides the
# buildpack's): Cove's router before nginx, the A/B of the server behind Cove.
NGINX_DYNO_CONF = """worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    types { text/html html; text/javascript js; }
    sendfile on;
    server {
        listen 0.0.0.0:@PORT@ backlog=2048;
        root /app/dist;
        location / { try_files $uri /index.html; add_header Cache-Control no-cache; }
        location /assets/ { try_files $uri =404; expires max; }
    }
}
"""
NGINX_DYNO_RUN = """sed "s/@PORT@/$PORT/" nginx.conf.in > /tmp/nginx.conf
exec /usr/sbin/nginx -p /tmp -c /tmp/nginx.conf -e stderr -g 'daemon off;'
"""


def write_site(repo: Path, access_log: bool) -> None:
    (repo / "dist" / "assets").mkdir(parents=True)
    (repo / "dist" / "index.html").write_text(INDEX)
    (repo / "dist" / "assets" / "index-3f2a1b9c.js").write_text(ASSET)
    config = {"root": "dist/", "routes": {"/**": "index.html"}}
    if not access_log:
        config["logging"] = {"access": False}
    (repo / "static.json").write_text(json.dumps(config))


def deploy(cove: Cove, name: str, access_log: bool, nginx_dyno: bool = False) -> None:
    repo = cove.user.home / name
    write_site(repo, access_log)
    if nginx_dyno:
        (repo / "nginx.conf.in").write_text(NGINX_DYNO_CONF)
        (repo / "run-nginx.sh").write_text(NGINX_DYNO_RUN)
        (repo / "Procfile").write_text("web: bash run-nginx.sh\n")
    cove.user.git("init", "-q", "-b", "main", cwd=repo)
    cove.user.commit_all(repo, "site")
    cove.user.cove("apps:create", name, cwd=repo)
    cove.user.cove("buildpacks:set", "cove/static", cwd=repo)
    cove.user.push(repo)
    cove.wait_serving(name, INDEX)


@contextmanager
def direct_server(slug: Path) -> Iterator[int]:
    """The slug's own bin/boot on the host: the static server without Cove's router."""
    port = free_port()
    proc = subprocess.Popen(
        [str(slug / "bin" / "boot")],
        env={"PATH": "/usr/bin:/bin", "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 15)
        yield port
    finally:
        stop_process(proc)


@contextmanager
def nginx_static(root: Path) -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cove-bench-static-") as prefix:
        # A copy nginx's workers (another user) can read: the slug is the app user's.
        site = Path(prefix) / "site"
        shutil.copytree(root, site)
        subprocess.run(["chmod", "-R", "a+rX", prefix], check=True)
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=site))
        argv = [nginx_binary(), "-c", str(conf), "-p", prefix, "-e", f"{prefix}/error.log"]
        proc = subprocess.Popen([*argv, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        try:
            wait_port(port, 10)
            yield port
        finally:
            stop_process(proc, signal.SIGQUIT)


@contextmanager
def router_to(upstream: int) -> Iterator[int]:
    """Cove's router alone (``python -m cove.router``) in front of one upstream: the same
    proxy before the static server and before nginx."""
    port = free_port()
    argv = [sys.executable, "-m", "cove.router", "--port", str(port), "--app", "bench"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [*argv, "--backend", f"127.0.0.1:{upstream}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 15)
        yield port
    finally:
        stop_process(proc)


def main() -> None:
    seconds = float(os.environ.get("SECONDS_PER_RUN", "8"))
    rounds = int(os.environ.get("ROUNDS", "2"))
    wrk = Wrk(threads=2, connections=32)
    with Cove() as cove, ExitStack() as stack:
        deploy(cove, "spa", access_log=True)
        deploy(cove, "spa-quiet", access_log=False)
        deploy(cove, "spa-nginx", access_log=False, nginx_dyno=True)
        slug = cove.slug_dir("spa")
        static_port = stack.enter_context(direct_server(slug))
        nginx_port = stack.enter_context(nginx_static(slug / "dist"))
        alone = "bench.localhost"
        targets = {
            "cove router -> static dyno": (cove.server.router_url, cove.server.app_host("spa")),
            "cove router -> static dyno, access log off": (
                cove.server.router_url,
                cove.server.app_host("spa-quiet"),
            ),
            "cove router -> nginx dyno": (
                cove.server.router_url,
                cove.server.app_host("spa-nginx"),
            ),
            "router alone -> static server": (
                f"http://127.0.0.1:{stack.enter_context(router_to(static_port))}",
                alone,
            ),
            "router alone -> nginx": (
                f"http://127.0.0.1:{stack.enter_context(router_to(nginx_port))}",
                alone,
            ),
            "static server direct": (f"http://127.0.0.1:{static_port}", None),
            "nginx direct": (f"http://127.0.0.1:{nginx_port}", None),
        }
        runs: dict[tuple[str, str], list[WrkResult]] = {}
        for _ in range(rounds):
            for path_name, path in PATHS.items():
                for name, (base, host) in targets.items():
                    result = wrk.run(base + path, host, seconds, warmup=1)
                    runs.setdefault((name, path_name), []).append(result)
    print(f"wrk -t2 -c32, {seconds:g} s x {rounds} rounds (medians)")
    print(f"{'target':46} {'path':9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for (name, path_name), results in runs.items():
        rps = statistics.median(r.rps for r in results)
        p50 = statistics.median(r.p50_ms for r in results if r.p50_ms is not None)
        p99 = statistics.median(r.p99_ms for r in results if r.p99_ms is not None)
        errors = sum(r.failed for r in results)
        print(f"{name:46} {path_name:9} {rps:9.0f} {p50:8.2f} {p99:8.2f} {errors:6}")


if __name__ == "__main__":
    main()
