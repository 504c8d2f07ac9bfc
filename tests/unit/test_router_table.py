"""The routing table: hostnames to app routes."""

from __future__ import annotations

import asyncio

import pytest

from cove.router import Backend, Route, RouteTable, WebState, normalize_host

B1 = Backend("web.1", "127.0.0.1", 5001)
B2 = Backend("web.2", "127.0.0.1", 5002)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("foo.localhost", "foo.localhost"),
        ("Foo.LocalHost", "foo.localhost"),
        ("foo.localhost:8080", "foo.localhost"),
        ("foo.localhost.", "foo.localhost"),
        ("foo.localhost.:80", "foo.localhost"),
        ("foo.localhost:", "foo.localhost"),
        (" foo.localhost ", "foo.localhost"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("127.0.0.1:5000", "127.0.0.1"),
    ],
)
def test_normalize_host(header: str, host: str) -> None:
    assert normalize_host(header) == host


def test_app_is_served_at_its_default_hostname() -> None:
    table = RouteTable("LocalHost")
    table.set_app("foo")
    assert table.lookup("foo.localhost") == Route("foo", (), False)
    assert table.lookup("FOO.localhost:5000") == Route("foo", (), False)
    assert table.lookup("bar.localhost") is None
    assert table.lookup("foo.example.com") is None
    assert table.lookup("") is None


def test_backends_and_maintenance_are_updated_independently() -> None:
    table = RouteTable("localhost")
    table.set_app("foo")
    table.set_backends("foo", [B1, B2])
    assert table.lookup("foo.localhost") == Route("foo", (B1, B2), False)
    table.set_app("foo", maintenance=True)  # keeps the backends
    assert table.lookup("foo.localhost") == Route("foo", (B1, B2), True)
    table.set_backends("foo", [B2])  # keeps maintenance
    assert table.lookup("foo.localhost") == Route("foo", (B2,), True)
    table.set_backends("foo", [])
    assert table.lookup("foo.localhost") == Route("foo", (), True)


def test_set_backends_adds_an_unknown_app() -> None:
    table = RouteTable("localhost")
    table.set_backends("foo", [B1])
    assert table.lookup("foo.localhost") == Route("foo", (B1,), False)


def test_remove_app() -> None:
    table = RouteTable("localhost")
    table.set_app("foo")
    table.set_app("bar")
    table.add_domain("foo", "www.foo.test")
    table.remove_app("foo")
    assert table.lookup("foo.localhost") is None
    assert table.lookup("www.foo.test") is None
    assert table.lookup("bar.localhost") is not None
    table.remove_app("nope")  # no error


def test_routes_are_snapshots() -> None:
    """A request holding a route keeps a consistent view while the table changes."""
    table = RouteTable("localhost")
    table.set_backends("foo", [B1])
    held = table.lookup("foo.localhost")
    table.set_backends("foo", [B2])
    assert held == Route("foo", (B1,), False)
    assert table.lookup("foo.localhost") == Route("foo", (B2,), False)


def test_custom_domains_follow_the_app() -> None:
    table = RouteTable("localhost")
    table.set_app("foo")
    table.add_domain("foo", "WWW.Foo.Test")
    table.set_backends("foo", [B1])
    assert table.lookup("www.foo.test:80") == Route("foo", (B1,), False)
    table.remove_domain("foo", "www.foo.test")
    assert table.lookup("www.foo.test") is None
    assert table.lookup("foo.localhost") is not None
    with pytest.raises(KeyError):
        table.add_domain("nope", "x.test")


def test_resolve_takes_raw_header_bytes_and_sees_changes() -> None:
    table = RouteTable("localhost")
    assert table.resolve(b"Foo.localhost:1234") == (None, "foo.localhost")
    table.set_app("foo")
    # The normalized-host cache must not hide later table changes.
    assert table.resolve(b"Foo.localhost:1234") == (Route("foo", (), False), "foo.localhost")
    table.remove_app("foo")
    assert table.resolve(b"Foo.localhost:1234") == (None, "foo.localhost")


def test_apps_and_get() -> None:
    table = RouteTable("localhost")
    table.set_app("b")
    table.set_app("a", maintenance=True)
    assert table.apps() == ["a", "b"]
    assert table.get("a") == Route("a", (), True)
    assert table.get("zzz") is None


def test_web_state_is_up_exactly_when_there_are_backends() -> None:
    table = RouteTable("localhost")
    table.set_app("foo")
    assert table.get("foo") == Route("foo", (), False, WebState.NONE)  # the default
    for state in (WebState.STARTING, WebState.CRASHED, WebState.NONE):
        table.set_backends("foo", [], state=state)
        assert table.get("foo") == Route("foo", (), False, state)
    table.set_backends("foo", [B1], state=WebState.STARTING)  # a backend means up
    assert table.get("foo") == Route("foo", (B1,), False, WebState.UP)
    table.set_backends("foo", [B1])
    assert table.get("foo") == Route("foo", (B1,), False, WebState.UP)
    table.set_backends("foo", [], state=WebState.UP)  # no backend: can't be up
    assert table.get("foo") == Route("foo", (), False, WebState.NONE)
    table.set_backends("foo", [])
    assert table.get("foo") == Route("foo", (), False, WebState.NONE)


def test_set_app_keeps_the_web_state() -> None:
    table = RouteTable("localhost")
    table.set_backends("foo", [], state=WebState.STARTING)
    table.set_app("foo", maintenance=True)
    assert table.get("foo") == Route("foo", (), True, WebState.STARTING)
    table.set_app("foo")
    assert table.get("foo") == Route("foo", (), False, WebState.STARTING)


def test_changed_is_set_by_the_next_mutation_of_that_app_only() -> None:
    async def scenario() -> None:
        table = RouteTable("localhost")
        table.set_backends("foo", [], state=WebState.STARTING)
        table.set_app("bar")
        first = table.changed("foo")
        assert table.changed("foo") is first  # one event per app until it fires
        table.set_app("bar", maintenance=True)
        table.set_backends("bar", [B2])
        assert not first.is_set()
        table.set_backends("foo", [B1])
        assert first.is_set()
        second = table.changed("foo")
        assert second is not first and not second.is_set()  # a fresh one for the next
        table.set_app("foo", maintenance=True)
        assert second.is_set()
        third = table.changed("foo")
        table.remove_app("foo")
        assert third.is_set()

        # Waiters wake on the change and see the new route.
        table.set_backends("baz", [], state=WebState.STARTING)
        event = table.changed("baz")
        waiter = asyncio.create_task(event.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        table.set_backends("baz", [B1])
        await asyncio.wait_for(waiter, 5)
        assert table.lookup("baz.localhost") == Route("baz", (B1,), False, WebState.UP)

    asyncio.run(scenario())
