"""Heroku's list ranges (cove.api.paging): parsing what clients send, pages, Next-Range,
and the middleware's answers (206, 416, untouched non-lists) through a small ASGI app."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from cove.api import paging
from cove.api.paging import Range, RangeNotSatisfiable, page, parse

RELEASES = [{"id": f"id-{v:02d}", "version": v, "name": f"n{v}"} for v in range(1, 13)]


def test_parses_what_the_heroku_cli_and_heroku3_send() -> None:
    assert parse("version ..; order=desc,max=1") == Range("version", max=1, descending=True)
    assert parse("version ..; max=15, order=desc") == Range("version", max=15, descending=True)
    assert parse("id ..; max=1000;") == Range("id", max=1000)
    assert parse("id ..; ;") == Range("id")  # heroku3's
    assert parse("version ..; ;") == Range("version")
    assert parse("") is None  # `Range: ''` is no range
    assert parse("name a..m") == Range("name", "a", "m")
    assert parse("id ]abc..; max=5") == Range("id", "abc", None, True, 5)
    assert parse("]abc..") == Range("id", "abc", None, True)  # no field: id


def test_max_is_capped_at_1000_and_defaults_to_200() -> None:
    assert parse("id ..; max=5000") == Range("id", max=1000)
    assert parse("id ..").max == 200  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "header",
    ["id ..; max=0", "id ..; max=ten", "id ..; order=sideways", "id a-b", "bytes=0-10", "id ..; x"],
)
def test_a_range_that_cannot_be_satisfied_is_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse(header)


def test_newest_first_cut_to_max_with_the_next_range() -> None:
    result = page(RELEASES, Range("version", max=2, descending=True))
    assert [r["version"] for r in result.items] == [12, 11]
    assert result.content_range == "version 12..11"
    assert result.next_range == "version ]11..; max=2, order=desc"
    following = page(RELEASES, parse(result.next_range))  # type: ignore[arg-type]
    assert [r["version"] for r in following.items] == [10, 9]


def test_following_next_range_walks_the_whole_list_once() -> None:
    seen: list[int] = []
    spec: Range | None = Range("version", max=5)
    while spec is not None:
        result = page(RELEASES, spec)
        seen += [r["version"] for r in result.items]
        spec = parse(result.next_range) if result.next_range else None
    assert seen == list(range(1, 13))


def test_bounds_are_inclusive_and_numbers_compare_as_numbers() -> None:
    result = page(RELEASES, Range("version", "2", "10"))
    assert [r["version"] for r in result.items] == list(range(2, 11))
    assert result.next_range is None
    with pytest.raises(RangeNotSatisfiable):
        page(RELEASES, Range("version", "v2"))


def test_a_field_the_items_lack_is_read_as_id() -> None:
    # heroku3 ranges domains by "domain", a field domains don't have.
    result = page(list(reversed(RELEASES)), Range("domain", max=2))
    assert [r["id"] for r in result.items] == ["id-01", "id-02"]
    assert result.next_range == "id ]id-02..; max=2"
    assert page([], Range("hostname")).items == []
    assert paging.accepted_fields(RELEASES) == ["id", "name", "version"]


def test_a_list_without_ids_can_only_be_ranged_by_its_fields() -> None:
    drains = [{"url": "syslog://a", "name": "b"}]
    assert page(drains, Range("name")).items == drains
    with pytest.raises(RangeNotSatisfiable, match="ranged by name"):
        page(drains, Range("url"))


# -- the middleware -----------------------------------------------------------------------


def _client() -> TestClient:
    api = FastAPI()
    api.add_middleware(paging.RangePaging)

    @api.get("/releases")
    def releases() -> list[dict[str, Any]]:
        return RELEASES

    @api.get("/one")
    def one() -> dict[str, Any]:
        return RELEASES[0]

    @api.get("/text")
    def text() -> PlainTextResponse:
        return PlainTextResponse("[1, 2]")

    return TestClient(api)


def test_a_truncated_list_is_206_with_next_range() -> None:
    with _client() as client:
        answer = client.get("/releases", headers={"Range": "version ..; max=3"})
    assert answer.status_code == 206
    assert [r["version"] for r in answer.json()] == [1, 2, 3]
    assert answer.headers["next-range"] == "version ]3..; max=3"
    assert answer.headers["content-range"] == "version 1..3"
    assert answer.headers["accept-ranges"] == "id, name, version"


def test_the_last_page_is_200_without_next_range() -> None:
    with _client() as client:
        answer = client.get("/releases", headers={"Range": "version ]10..; max=3"})
    assert answer.status_code == 200
    assert [r["version"] for r in answer.json()] == [11, 12]
    assert "next-range" not in answer.headers


def test_without_range_a_list_comes_whole_in_the_routes_order() -> None:
    with _client() as client:
        answer = client.get("/releases")
    assert answer.status_code == 200
    assert answer.json() == RELEASES
    assert answer.headers["accept-ranges"] == "id, name, version"


def test_an_unsatisfiable_range_is_a_heroku_416() -> None:
    with _client() as client:
        bad_max = client.get("/releases", headers={"Range": "id ..; max=0"})
        bad_bound = client.get("/releases", headers={"Range": "version ..3x"})
    for answer in (bad_max, bad_bound):
        assert answer.status_code == 416
        assert answer.json()["id"] == "requested_range_not_satisfiable"


def test_objects_and_other_bodies_are_left_alone() -> None:
    with _client() as client:
        one = client.get("/one", headers={"Range": "id ..; max=1"})
        text = client.get("/text", headers={"Range": "id ..; max=1"})
    assert one.status_code == 200 and one.json() == RELEASES[0]
    assert "accept-ranges" not in one.headers
    assert text.text == "[1, 2]"
