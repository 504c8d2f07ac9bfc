"""Request-Id: the client's when Heroku would keep it (20 to 200 of [A-Za-z0-9+/=-]),
else a new UUID."""

from __future__ import annotations

import uuid

import pytest

from cove.api.request_headers import request_id


@pytest.mark.parametrize(
    "sent",
    [str(uuid.uuid4()), "a" * 20, "A1+/=-" * 33 + "ab"],  # 200 characters
    ids=["uuid", "letters", "200-characters"],  # (the same names in every test process)
)
def test_a_well_formed_id_is_kept(sent: str) -> None:
    assert request_id(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "a" * 19, "a" * 201, "has space in it 12345", "é" * 30])
def test_otherwise_a_new_uuid(sent: str | None) -> None:
    made = request_id(sent)
    assert made != sent and str(uuid.UUID(made)) == made
