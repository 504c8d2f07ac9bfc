"""Under continuous load, a deploy, a config change and a rollback drop zero requests."""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from tests.e2e.harness import CoveServer, User, wait_for


class Load:
    """A bounded stream of requests through the router from a few concurrent clients."""

    def __init__(self, server: CoveServer, app: str, clients: int = 3) -> None:
        self.server, self.app = server, app
        self.stop = threading.Event()
        self.results: Counter[str] = Counter()
        self.bodies: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        headers = {"Host": self.server.app_host(self.app)}
        with httpx.Client(base_url=self.server.router_url, headers=headers, timeout=30) as c:
            for _ in range(100_000):  # bounded; stopped long before
                if self.stop.is_set():
                    return
                try:
                    r = c.get("/")
                    outcome, body = str(r.status_code), r.text
                except httpx.HTTPError as exc:
                    outcome, body = type(exc).__name__, ""
                with self.lock:
                    self.results[outcome] += 1
                    self.bodies[body] += 1
                    if outcome != "200":
                        self.failures.append(f"{outcome} {body[:200]}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_no_failed_requests_across_deploy_config_and_rollback(
    user: User, server: CoveServer
) -> None:
    deploys_drop_no_requests(user, server)


def deploys_drop_no_requests(user: User, server: CoveServer) -> None:
    """Two web dynos under load through a deploy, a config change and a rollback (also
    run on the swarm backend: tests/e2e/test_swarm.py)."""
    repo = user.new_repo("crashy", "steady")
    user.cove("apps:create", "steady", cwd=repo)
    user.cove("config:set", "TEXT=v-one", cwd=repo)
    user.push(repo)
    first = server.api("GET", "/apps/steady/releases").json()[-1]["version"]
    user.cove("ps:scale", "web=2", cwd=repo)
    wait_for(
        lambda: (
            [d["state"] for d in server.api("GET", "/apps/steady/dynos").json()] == ["up", "up"]
        ),
        60,
        what="two web dynos up",
    )

    with Load(server, "steady") as load:
        wait_for(lambda: load.results["200"] > 50, 30, what="load to be flowing")
        # A deploy (new code), a config change and a rollback, one after the other.
        (repo / "server.py").write_text(
            (repo / "server.py").read_text().replace('"TEXT", "ok"', '"TEXT", "unused"')
        )
        user.commit_all(repo, "new code")
        user.push(repo)
        user.cove("config:set", "TEXT=v-two", cwd=repo)
        wait_for(lambda: load.bodies["v-two"] > 20, 60, what="the config change to serve")
        user.cove("releases:rollback", f"v{first}", cwd=repo)
        wait_for(
            lambda: server.api("GET", "/apps/steady/releases").json()[-1]["current"],
            60,
            what="the rollback release to be current",
        )
        mark = load.bodies["v-one"]
        wait_for(lambda: load.bodies["v-one"] > mark + 20, 60, what="rolled-back config serving")

    assert load.failures == [], (load.results, load.failures[:10])
    assert load.results["200"] > 200
