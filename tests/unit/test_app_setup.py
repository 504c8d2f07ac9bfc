"""What refuses a first deploy with an app.json, before anything is changed: buildpacks,
stack, add-on plans, required config vars; and formation types the app doesn't declare."""

from __future__ import annotations

import json
import re
from typing import Any, cast

import pytest

from cove.addons import Registry
from cove.builder.app_setup import (
    AppSetup,
    buildpack_names,
    check_formation,
    new_secret,
    read,
)
from cove.builder.buildpacks import BuildFailed
from cove.domain.app_json import AppJson
from cove.domain.errors import InvalidParams
from cove.store import App, Store


class FakeRegistry:
    def resolve(self, spec: str) -> tuple[object, str]:
        if not spec.startswith("heroku-postgresql"):
            raise InvalidParams(f"Couldn't find the add-on service of {spec!r}.")
        return object(), "essential-0"


def manifest(**data: Any) -> AppJson:
    return read(json.dumps(data).encode())


def check(data: dict[str, Any], config: dict[str, str] | None = None) -> None:
    setup = AppSetup(cast(Store, None), cast(Registry, FakeRegistry()), None)
    setup.check(cast(App, type("FakeApp", (), {"config": config or {}})()), manifest(**data))


def test_an_invalid_manifest_is_a_build_error_naming_the_field() -> None:
    with pytest.raises(BuildFailed, match=r"^app.json: formation.web.quantity must be"):
        read(b'{"formation": {"web": {"quantity": -1}}}')


@pytest.mark.parametrize(
    "url",
    [
        "heroku/python",
        "https://github.com/heroku/heroku-buildpack-python",
        "https://github.com/heroku/heroku-buildpack-python.git#v300",
    ],
)
def test_the_python_buildpack_is_accepted(url: str) -> None:
    check({"buildpacks": [{"url": url}], "stack": "heroku-22"})


def test_built_in_buildpacks_are_named_as_cove_names_them() -> None:
    data = {
        "buildpacks": [
            {"url": "https://github.com/heroku/heroku-buildpack-nodejs#v250"},
            {"url": "heroku/python"},
        ]
    }
    check(data)
    assert buildpack_names(manifest(**data)) == ["heroku/nodejs", "heroku/python"]


def test_other_buildpacks_and_stacks_are_refused() -> None:
    with pytest.raises(BuildFailed, match=r"buildpacks\[1\].url 'heroku/ruby' is not"):
        check({"buildpacks": [{"url": "heroku/python"}, {"url": "heroku/ruby"}]})
    with pytest.raises(BuildFailed, match=r"buildpacks\[1\]: heroku/python is listed twice"):
        check({"buildpacks": [{"url": "heroku/python"}, {"url": "heroku/python#main"}]})
    with pytest.raises(BuildFailed, match=r"app\.json: stack 'heroku-18' is not available"):
        check({"stack": "heroku-18"})


def test_an_unknown_add_on_is_refused_with_its_index() -> None:
    check({"addons": ["heroku-postgresql:essential-0"]})
    with pytest.raises(BuildFailed, match=r"^app.json: addons\[1\]: Couldn't find"):
        check({"addons": ["heroku-postgresql", {"plan": "heroku-kafka"}]})


def test_missing_required_config_vars_are_all_named() -> None:
    data = {"env": {"A": {"description": "x"}, "B": {}, "C": {"required": False}}}
    with pytest.raises(BuildFailed, match=r"doesn't have: A, B\. Set them with `cove config:set A"):
        check(data)
    with pytest.raises(BuildFailed, match=r"doesn't have: B\. Set it with"):
        check(data, {"A": "set"})
    check(data, {"A": "set", "B": "set"})


def test_formation_types_must_be_declared() -> None:
    wanted = manifest(formation={"worker": {"quantity": 1}})
    check_formation(wanted, {"web": "x", "worker": "y"})
    with pytest.raises(BuildFailed, match=r"formation.worker: .*\(its types: web\)"):
        check_formation(wanted, {"web": "x", "release": "z"})


def test_generated_secrets_are_64_hex_digits_and_differ() -> None:
    first, second = new_secret(), new_secret()
    assert re.fullmatch(r"[0-9a-f]{64}", first) and first != second
