"""app.json: what Cove reads of it, and an error naming the field and rule for each
broken rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cove.domain.app_json import (
    MAX_BYTES,
    AddonSpec,
    AppJson,
    AppJsonInvalid,
    EnvVar,
    ProcessFormation,
    Script,
    parse,
)


def of(**data: Any) -> AppJson:
    return parse(json.dumps(data))


def refused(data: Any) -> str:
    with pytest.raises(AppJsonInvalid) as info:
        parse(data if isinstance(data, str) else json.dumps(data))
    assert info.value.message.startswith("app.json: ")
    return info.value.message


def test_a_full_manifest() -> None:
    got = of(
        name="Small Sharp Tool",
        description="ignored",
        keywords=["x"],
        environments={"test": {}},
        env={
            "PLAIN": "shorthand",
            "SECRET_KEY": {"description": "signing", "generator": "secret"},
            "WEB_CONCURRENCY": {"value": "5", "required": False},
            "API_TOKEN": {"description": "ask the admin"},
        },
        formation={"web": {"quantity": 2, "size": "Standard-2X"}, "worker": {"quantity": 0}},
        addons=[
            "heroku-redis",
            "heroku-postgresql:essential-0",
            {"plan": "heroku-postgresql", "as": "reports", "options": {"version": "16"}},
        ],
        buildpacks=[{"url": "heroku/python"}],
        stack="heroku-24",
        scripts={"postdeploy": {"command": "python seed.py", "size": "standard-2x"}},
    )
    assert got.name == "Small Sharp Tool"
    assert got.env == (
        EnvVar("PLAIN", value="shorthand"),
        EnvVar("SECRET_KEY", description="signing", generator="secret"),
        EnvVar("WEB_CONCURRENCY", value="5", required=False),
        EnvVar("API_TOKEN", description="ask the admin"),
    )
    assert got.formation == {
        "web": ProcessFormation(2, "standard-2x"),
        "worker": ProcessFormation(0, None),
    }
    assert got.addons == (
        AddonSpec("heroku-redis"),
        AddonSpec("heroku-postgresql:essential-0"),
        AddonSpec("heroku-postgresql", "REPORTS", {"version": "16"}),
    )
    assert got.addons[1].service == "heroku-postgresql"
    assert got.buildpacks == ("heroku/python",)
    assert got.stack == "heroku-24"
    assert got.postdeploy == Script("python seed.py", "standard-2x")


def test_an_empty_manifest_asks_for_nothing() -> None:
    got = parse("{}")
    assert got == AppJson()
    assert got.missing_required({}) == []
    assert got.config_to_set({}, lambda: "s") == {}


def test_postdeploy_shorthand() -> None:
    assert of(scripts={"postdeploy": "python seed.py"}).postdeploy == Script("python seed.py")
    assert of(scripts={"pr-predestroy": "x"}).postdeploy is None


def test_env_vars_are_required_unless_they_say_otherwise() -> None:
    manifest = of(
        env={
            "NEEDED": {"description": "no value"},
            "EMPTY": {"value": ""},
            "OPTIONAL": {"required": False},
            "GIVEN": {"value": "x"},
            "MADE": {"generator": "secret"},
        }
    )
    assert manifest.missing_required({}) == ["NEEDED", "EMPTY"]
    # A value the app already has satisfies the requirement (an empty one doesn't).
    assert manifest.missing_required({"NEEDED": "set", "EMPTY": ""}) == ["EMPTY"]


def test_config_to_set_keeps_what_the_app_has_and_generates_secrets() -> None:
    manifest = of(
        env={
            "GIVEN": "x",
            "KEPT": "from-app-json",
            "MADE": {"generator": "secret"},
            "NEEDED": {"description": "no value"},
            "OPTIONAL": {"required": False},
        }
    )
    secrets = iter(["s1", "s2"])
    got = manifest.config_to_set({"KEPT": "from-config"}, lambda: next(secrets))
    assert got == {"GIVEN": "x", "MADE": "s1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "app.json: not valid JSON"),
        ("[]", "app.json: the top level must be an object"),
        ({"name": 3}, "app.json: name must be a string"),
        ({"name": "x" * 31}, "app.json: name must be at most 30 characters"),
        ({"env": []}, "app.json: env must be an object"),
        ({"env": {"lower": "x"}}, "app.json: env.lower is not a valid name"),
        ({"env": {"1X": "x"}}, "app.json: env.1X is not a valid name"),
        ({"env": {"A": 5}}, "app.json: env.A must be an object"),
        ({"env": {"A": {"value": 5}}}, "app.json: env.A.value must be a string"),
        ({"env": {"A": {"value": "a\0b"}}}, "app.json: env.A.value must not contain a NUL"),
        ({"env": {"A": {"required": "no"}}}, "app.json: env.A.required must be true or false"),
        ({"env": {"A": {"generator": "uuid"}}}, 'app.json: env.A.generator must be "secret"'),
        (
            {"env": {"A": {"generator": "secret", "value": "x"}}},
            'app.json: env.A must not have both a value and "generator"',
        ),
        ({"env": {"A": {"description": 1}}}, "app.json: env.A.description must be a string"),
        ({"env": {"A": {"default": "x"}}}, "app.json: env.A.default is not allowed"),
        ({"formation": []}, "app.json: formation must be an object"),
        ({"formation": {"we b": {}}}, "app.json: formation.we b is not a valid process type"),
        ({"formation": {"release": {"quantity": 1}}}, "app.json: formation.release can't be"),
        ({"formation": {"web": 1}}, "app.json: formation.web must be an object"),
        (
            {"formation": {"web": {"quantity": -1}}},
            "app.json: formation.web.quantity must be a non-negative integer",
        ),
        (
            {"formation": {"web": {"quantity": "2"}}},
            "app.json: formation.web.quantity must be a non-negative integer",
        ),
        (
            {"formation": {"web": {"quantity": 1.5}}},
            "app.json: formation.web.quantity must be a non-negative integer",
        ),
        (
            {"formation": {"web": {"quantity": True}}},
            "app.json: formation.web.quantity must be a non-negative integer",
        ),
        (
            {"formation": {"web": {"quantity": 101}}},
            "app.json: formation.web.quantity must be at most 100",
        ),
        (
            {"formation": {"web": {"size": "huge"}}},
            "app.json: formation.web.size must be a dyno size",
        ),
        ({"formation": {"web": {"size": 2}}}, "app.json: formation.web.size must be a string"),
        ({"formation": {"web": {"count": 2}}}, "app.json: formation.web.count is not allowed"),
        ({"addons": "heroku-redis"}, "app.json: addons must be an array"),
        ({"addons": [""]}, "app.json: addons[0] must not be empty"),
        ({"addons": ["Heroku Redis"]}, 'app.json: addons[0] must be "service" or'),
        ({"addons": ["a:b:c"]}, 'app.json: addons[0] must be "service" or'),
        ({"addons": [3]}, "app.json: addons[0] must be an object"),
        ({"addons": [{"as": "X"}]}, "app.json: addons[0].plan is required"),
        ({"addons": [{"plan": 3}]}, "app.json: addons[0].plan must be a string"),
        ({"addons": [{"plan": "heroku-redis", "as": "1X"}]}, "app.json: addons[0].as must be"),
        ({"addons": [{"plan": "heroku-redis", "as": 1}]}, "app.json: addons[0].as must be"),
        (
            {"addons": [{"plan": "heroku-redis", "options": []}]},
            "app.json: addons[0].options must be an object",
        ),
        (
            {"addons": [{"plan": "heroku-redis", "name": "x"}]},
            "app.json: addons[0].name is not allowed",
        ),
        ({"buildpacks": {"url": "x"}}, "app.json: buildpacks must be an array"),
        ({"buildpacks": ["heroku/python"]}, "app.json: buildpacks[0] must be an object"),
        ({"buildpacks": [{}]}, "app.json: buildpacks[0].url is required"),
        ({"buildpacks": [{"url": " "}]}, "app.json: buildpacks[0].url must not be empty"),
        ({"buildpacks": [{"url": "x", "ref": 1}]}, "app.json: buildpacks[0].ref is not"),
        ({"stack": 24}, "app.json: stack must be a string"),
        ({"stack": ""}, "app.json: stack must not be empty"),
        ({"scripts": []}, "app.json: scripts must be an object"),
        ({"scripts": {"postdeploy": ""}}, "app.json: scripts.postdeploy must not be empty"),
        ({"scripts": {"postdeploy": 1}}, "app.json: scripts.postdeploy must be an object"),
        ({"scripts": {"postdeploy": {}}}, "app.json: scripts.postdeploy.command is required"),
        (
            {"scripts": {"postdeploy": {"command": 1}}},
            "app.json: scripts.postdeploy.command must be a string",
        ),
        (
            {"scripts": {"postdeploy": {"command": "x", "size": "big"}}},
            "app.json: scripts.postdeploy.size must be a dyno size",
        ),
        (
            {"scripts": {"postdeploy": {"command": "x", "env": {}}}},
            "app.json: scripts.postdeploy.env is not allowed",
        ),
    ],
)
def test_each_broken_rule_names_its_field(data: Any, message: str) -> None:
    assert refused(data).startswith(message)


def test_a_huge_or_binary_file_is_refused_before_parsing() -> None:
    assert "at most" in refused(" " * (MAX_BYTES + 1))
    with pytest.raises(AppJsonInvalid, match="UTF-8"):
        parse(b'{"name": "\xff"}')


@pytest.mark.parametrize(
    "text",
    [
        '{"env": {"SECRET": {"value": "\\ud800"}}}',  # a config var's value
        '{"env": {"K\\udfff": "v"}}',  # a name
        '{"scripts": {"postdeploy": "echo \\ud83d"}}',  # half of a pair, elsewhere
    ],
)
def test_a_lone_surrogate_escape_is_refused_anywhere(text: str) -> None:
    assert "lone surrogate" in refused(text)
    (emoji,) = parse('{"env": {"EMOJI": {"value": "\\ud83d\\ude00"}}}').env  # a whole pair
    assert emoji.value == "😀"
