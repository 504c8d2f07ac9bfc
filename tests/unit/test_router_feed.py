"""The route feed: an app's backends and web state from the store's rows, kept current."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cove.router import Backend, Route, RouteTable, WebState
from cove.router.feed import RouteFeed, web_state
from cove.services import apps, releases
from cove.store import Account, App, Dyno, Formation, Slug, Store

DEADLINE = 10.0


@pytest.mark.parametrize(
    ("quantity", "declared", "states", "expected"),
    [
        (1, True, ["up"], WebState.UP),
        (1, True, ["crashed", "up"], WebState.UP),
        (0, True, ["up", "down"], WebState.UP),  # scaling down: serve until it's gone
        (1, True, [], WebState.STARTING),  # wanted, not started yet
        (1, True, ["starting"], WebState.STARTING),
        (2, True, ["crashed", "starting"], WebState.STARTING),  # one restarting
        (1, True, ["down", "starting"], WebState.STARTING),  # restart: old one stopping
        (1, True, ["down"], WebState.STARTING),
        (1, True, ["crashed"], WebState.CRASHED),
        (2, True, ["crashed", "crashed"], WebState.CRASHED),
        (2, True, ["crashed", "down"], WebState.CRASHED),
        (0, True, [], WebState.NONE),  # scaled to zero
        (0, True, ["crashed"], WebState.NONE),
        (1, False, [], WebState.NONE),  # no web process type, or nothing released
        (1, False, ["crashed"], WebState.NONE),
    ],
)
def test_web_state(quantity: int, declared: bool, states: list[str], expected: WebState) -> None:
    assert web_state(quantity, declared, states) is expected


# -- from a real store -----------------------------------------------------------------------


class Fixture:
    """A store with one account, and helpers writing rows (with events) like the API,
    the builder and the dyno manager do."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
        self.store.migrate()
        with self.store.session() as s:
            account = Account(email="dev@example.com")
            s.add(account)
            s.flush()
            self.owner = account.id

    def create(self, name: str) -> str:
        return apps.create(self.store, self.owner, name).id

    def deploy(self, app_id: str, types: dict[str, str], web: int = 1) -> int:
        with self.store.session() as s:
            app = s.get(App, app_id)
            assert app is not None
            slug = Slug(app_id=app_id, checksum="SHA256:x", size=1, stack="cove-24")
            slug.process_types = types
            s.add(slug)
            s.flush()
            release = releases.append(
                s, app, slug_id=slug.id, description="Deploy", user_id=self.owner
            )
            if "web" in types:
                s.add(Formation(app_id=app_id, type="web", quantity=web))
            return release.version

    def scale(self, app_id: str, web: int) -> None:
        with self.store.session() as s:
            row = s.query(Formation).filter_by(app_id=app_id, type="web").one()
            row.quantity = web
            self.store.emit(s, "formation.changed", app_id)

    def dyno(self, app_id: str, name: str, state: str, port: int | None = None) -> None:
        with self.store.session() as s:
            app = s.get(App, app_id)
            assert app is not None
            row = s.query(Dyno).filter_by(app_id=app_id, name=name).one_or_none()
            if row is None:
                row = Dyno(
                    app_id=app_id,
                    name=name,
                    type=name.split(".")[0],
                    command="run",
                    release_version=1,
                    revision="r1",
                )
                s.add(row)
            row.state = state
            if port is not None:
                row.host, row.port = "127.0.0.1", port
            self.store.emit(s, "dyno.changed", app_id, app=app.name, name=name, state=state)

    def maintenance(self, name: str, on: bool) -> None:
        apps.set_maintenance(self.store, name, on)


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def route(feed: RouteFeed, app: str) -> Route | None:
    return feed.table.get(app)


def test_state_from_rows(fx: Fixture) -> None:
    """Each row change, refreshed once (what the feed does for each event)."""
    feed = RouteFeed(fx.store, RouteTable("localhost"))
    app_id = fx.create("alpha")

    async def refresh() -> Route | None:
        await feed._refresh(app_id, "alpha")
        return route(feed, "alpha")

    async def scenario() -> None:
        # Created: only the initial release (no slug), so no web process.
        assert await refresh() == Route("alpha", (), False, WebState.NONE)
        fx.deploy(app_id, {"web": "gunicorn app:app", "worker": "celery"})
        assert await refresh() == Route("alpha", (), False, WebState.STARTING)
        fx.dyno(app_id, "worker.1", "up", port=6000)  # not a web dyno: never a backend
        fx.dyno(app_id, "web.1", "starting")
        assert await refresh() == Route("alpha", (), False, WebState.STARTING)
        fx.dyno(app_id, "web.1", "up", port=5001)
        web1 = Backend("web.1", "127.0.0.1", 5001)
        assert await refresh() == Route("alpha", (web1,), False, WebState.UP)
        fx.dyno(app_id, "web.1", "crashed")
        assert await refresh() == Route("alpha", (), False, WebState.CRASHED)
        fx.dyno(app_id, "web.1", "starting")  # restarted after the crash
        assert await refresh() == Route("alpha", (), False, WebState.STARTING)
        fx.dyno(app_id, "web.1", "up", port=5002)
        fx.dyno(app_id, "web.2", "up", port=5003)
        both = (Backend("web.1", "127.0.0.1", 5002), Backend("web.2", "127.0.0.1", 5003))
        assert await refresh() == Route("alpha", both, False, WebState.UP)
        fx.scale(app_id, 0)
        fx.dyno(app_id, "web.1", "down")
        fx.dyno(app_id, "web.2", "down")
        assert await refresh() == Route("alpha", (), False, WebState.NONE)
        fx.scale(app_id, 1)
        assert await refresh() == Route("alpha", (), False, WebState.STARTING)
        fx.maintenance("alpha", True)
        assert await refresh() == Route("alpha", (), True, WebState.STARTING)

        # A release without a web process type: nothing to route to, whatever the quantity.
        other = fx.create("beta")
        fx.deploy(other, {"worker": "celery"})
        await feed._refresh(other, "beta")
        assert route(feed, "beta") == Route("beta", (), False, WebState.NONE)

    asyncio.run(scenario())


@asynccontextmanager
async def running(feed: RouteFeed) -> AsyncIterator[None]:
    task = asyncio.create_task(feed.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(table: RouteTable, app: str, pred: Callable[[Route | None], bool]) -> Route | None:
    """Wait (on the table's change events, no polling) until the app's route matches."""
    async with asyncio.timeout(DEADLINE):
        while True:
            changed = table.changed(app)
            current = table.get(app)
            if pred(current):
                return current
            await changed.wait()


def test_feed_lists_then_follows_events(fx: Fixture) -> None:
    alpha = fx.create("alpha")
    fx.deploy(alpha, {"web": "gunicorn app:app"})
    fx.dyno(alpha, "web.1", "up", port=5001)
    fx.create("beta")

    async def scenario() -> None:
        table = RouteTable("localhost")
        feed = RouteFeed(fx.store, table)
        async with running(feed):
            web1 = Backend("web.1", "127.0.0.1", 5001)
            got = await until(table, "alpha", lambda r: r is not None)
            assert got == Route("alpha", (web1,), False, WebState.UP)
            assert await until(table, "beta", lambda r: r is not None) == Route(
                "beta", (), False, WebState.NONE
            )
            assert feed.app_ids["alpha"] == alpha

            # A deploy: a new dyno beside the old one, then the old one stops.
            fx.dyno(alpha, "web.2", "starting")
            fx.dyno(alpha, "web.2", "up", port=5002)
            web2 = Backend("web.2", "127.0.0.1", 5002)
            await until(table, "alpha", lambda r: r is not None and r.backends == (web1, web2))
            fx.dyno(alpha, "web.1", "down")
            await until(table, "alpha", lambda r: r is not None and r.backends == (web2,))

            # The only web dyno crashes: H10 territory, until it is restarted.
            fx.dyno(alpha, "web.2", "crashed")
            await until(table, "alpha", lambda r: r is not None and r.state is WebState.CRASHED)
            fx.dyno(alpha, "web.2", "starting")
            await until(table, "alpha", lambda r: r is not None and r.state is WebState.STARTING)

            # Scaling to zero is seen from the formation event alone.
            fx.scale(alpha, 0)
            await until(table, "alpha", lambda r: r is not None and r.state is WebState.NONE)
            fx.scale(alpha, 1)
            await until(table, "alpha", lambda r: r is not None and r.state is WebState.STARTING)

            # A first deploy (the release event) makes a created app start booting.
            gamma = fx.create("gamma")
            await until(table, "gamma", lambda r: r is not None and r.state is WebState.NONE)
            fx.deploy(gamma, {"web": "gunicorn app:app"})
            await until(table, "gamma", lambda r: r is not None and r.state is WebState.STARTING)

            fx.maintenance("beta", True)
            await until(table, "beta", lambda r: r is not None and r.maintenance)
            apps.destroy(fx.store, "beta")
            await until(table, "beta", lambda r: r is None)
            assert "beta" not in feed.app_ids

    asyncio.run(scenario())
