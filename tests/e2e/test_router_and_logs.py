"""What a deployed app sees through the router, and `cove logs --tail`."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

from tests.e2e.harness import CoveServer, User, wait_for


def test_app_sees_heroku_headers_and_dyno_env(user: User, server: CoveServer) -> None:
    repo = user.new_repo("echo")
    user.cove("apps:create", "echo-app", cwd=repo)
    user.push(repo)
    before = int(time.time() * 1000)
    response = server.get(
        "echo-app",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "client-supplied-id-12345"},
    )
    seen = response.json()
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["host"] == server.app_host("echo-app")
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == str(server.info["router_port"])
    assert headers["x-request-id"] == "client-supplied-id-12345"
    assert before <= int(headers["x-request-start"]) <= int(time.time() * 1000)
    assert seen["dyno"] == "web.1" and seen["home"] == "/app" and seen["cwd"] == "/app"
    assert seen["port"] and seen["web_concurrency"] == "2"

    fresh = server.get("echo-app", headers={"X-Request-Id": "short"}).json()["headers"]
    assert len(fresh["X-Request-Id"]) == 36  # an invalid id is replaced by a UUID


def test_logs_tail_streams_new_lines(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "tailed")
    user.cove("apps:create", "tailed", cwd=repo)
    user.push(repo)
    tail = subprocess.Popen(
        [sys.executable, "-m", "cove.cli.main", "logs", "--tail", "-n", "1", "-a", "tailed"],
        env=user.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(tail.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:

        def router_line_seen() -> bool:
            server.get("tailed", "/tail-probe")
            return any('path="/tail-probe"' in line and "heroku[router]" in line for line in lines)

        wait_for(router_line_seen, 30, interval=0.2, what="a router line in logs --tail")
    finally:
        tail.terminate()
        tail.wait(10)
        reader.join(10)
    line = next(line for line in lines if 'path="/tail-probe"' in line)
    assert "at=info method=GET" in line and "status=404" in line and "dyno=web.1" in line


def test_maintenance_mode_answers_h80_and_keeps_dynos(user: User, server: CoveServer) -> None:
    repo = user.new_repo("crashy", "maint")
    user.cove("apps:create", "maint", cwd=repo)
    user.push(repo)

    def running() -> list[tuple[str, str, str]]:
        # Which dynos run, not their live figures (memory_usage changes between reads).
        return [
            (d["id"], d["name"], d["state"]) for d in server.api("GET", "/apps/maint/dynos").json()
        ]

    dynos = running()
    user.cove("maintenance:on", cwd=repo)
    assert user.cove("maintenance", cwd=repo).stdout.strip() == "on"
    page = server.get("maint", "/some/path")
    assert page.status_code == 503 and "maintenance" in page.text.lower()
    assert running() == dynos  # dynos keep running
    logs = user.cove("logs", "-n", "200", "-d", "router", cwd=repo).stdout
    assert re.search(
        r'heroku\[router\]: at=info code=H80 desc="Maintenance mode" method=GET '
        r'path="/some/path" .* dyno= connect= service= status=503 bytes=',
        logs,
    ), logs
    user.cove("maintenance:off", cwd=repo)
    assert server.get("maint").text == "ok"
