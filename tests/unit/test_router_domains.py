"""Custom domains in the routing table: exact names and one-label wildcards."""

from __future__ import annotations

from cove.router import RouteTable


def _table() -> RouteTable:
    table = RouteTable("localhost")
    table.set_app("foo")
    table.set_app("bar")
    return table


def test_set_domains_adds_and_drops_hostnames() -> None:
    table = _table()
    table.set_domains("foo", ["www.foo.test", "*.foo.test"])
    found = table.lookup("www.foo.test")
    assert found is not None and found.app == "foo"
    table.set_domains("foo", ["*.foo.test"])
    found = table.lookup("www.foo.test")  # now through the wildcard
    assert found is not None and found.app == "foo"
    table.set_domains("foo", [])
    assert table.lookup("www.foo.test") is None
    assert table.lookup("foo.localhost") is not None  # the default name stays


def test_a_wildcard_matches_one_label_and_an_exact_name_wins() -> None:
    table = _table()
    table.set_domains("foo", ["*.example.test"])
    table.set_domains("bar", ["api.example.test"])
    for host in ("www.example.test", "WWW.example.test:8443", "x-1.example.test."):
        route = table.lookup(host)
        assert route is not None and route.app == "foo", host
    api = table.lookup("api.example.test")
    assert api is not None and api.app == "bar"
    assert table.lookup("example.test") is None
    assert table.lookup("a.b.example.test") is None
    route, host = table.resolve(b"Shop.Example.Test")
    assert route is not None and route.app == "foo" and host == "shop.example.test"


def test_domains_see_maintenance_and_go_with_the_app() -> None:
    table = _table()
    table.set_domains("foo", ["www.foo.test", "*.foo.test"])
    table.set_app("foo", maintenance=True)
    for host in ("www.foo.test", "a.foo.test"):
        route = table.lookup(host)
        assert route is not None and route.maintenance, host
    table.remove_app("foo")
    assert table.lookup("www.foo.test") is None
    assert table.lookup("a.foo.test") is None
