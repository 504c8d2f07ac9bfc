"""app.json, Heroku's app manifest: parsed and checked against Heroku's schema (the parts
Cove honours: ``env``, ``formation``, ``addons``, ``buildpacks``, ``stack`` and
``scripts.postdeploy``). Pure rules, no I/O: the builder applies the result on an app's
first deploy. Every error names the field and the rule it breaks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cove.domain.dyno_sizes import SIZES, parse_size
from cove.domain.errors import InvalidParams

# Heroku's schema: env keys, formation process types and add-on attachment names.
ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
PROCESS_TYPE = re.compile(r"^[a-zA-Z0-9_-]+$")
ATTACHMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
ADDON_PLAN = re.compile(r"^[a-z0-9][a-z0-9-]*(:[a-z0-9][a-z0-9-]*)?$")
NAME_MAX = 30
# Far more than any real manifest; a bigger file is refused before it is parsed.
MAX_BYTES = 256 * 1024
MAX_QUANTITY = 100  # what `cove ps:scale` allows


class AppJsonInvalid(InvalidParams):
    """app.json breaks a rule; the message starts with ``app.json:`` and names the field."""


@dataclass(frozen=True)
class EnvVar:
    key: str
    value: str | None = None
    description: str | None = None
    required: bool = True  # Heroku: every env item is required unless it says otherwise
    generator: str | None = None  # "secret": a random value generated at setup

    @property
    def has_value(self) -> bool:
        """Whether setup can give it a value of its own (given or generated)."""
        return bool(self.value) or self.generator is not None


@dataclass(frozen=True)
class ProcessFormation:
    quantity: int | None
    size: str | None


@dataclass(frozen=True)
class AddonSpec:
    plan: str  # "heroku-postgresql" or "heroku-postgresql:essential-0"
    attach_as: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.plan.partition(":")[0]


@dataclass(frozen=True)
class Script:
    command: str
    size: str | None = None


@dataclass(frozen=True)
class AppJson:
    name: str | None = None
    env: tuple[EnvVar, ...] = ()
    formation: Mapping[str, ProcessFormation] = field(default_factory=dict)
    addons: tuple[AddonSpec, ...] = ()
    buildpacks: tuple[str, ...] = ()
    stack: str | None = None
    postdeploy: Script | None = None

    def missing_required(self, config: Mapping[str, str]) -> list[str]:
        """Required env vars that neither app.json nor the app's config vars give a value."""
        return [
            var.key
            for var in self.env
            if var.required and not var.has_value and not config.get(var.key)
        ]

    def config_to_set(
        self, config: Mapping[str, str], generate_secret: Callable[[], str]
    ) -> dict[str, str]:
        """The config vars setup sets: each env var with a value (given, or generated for
        ``generator: secret``) that the app doesn't have already."""
        out = {}
        for var in self.env:
            if var.key in config or not var.has_value:
                continue
            out[var.key] = var.value if var.value else generate_secret()
        return out


def _fail(path: str, rule: str) -> AppJsonInvalid:
    return AppJsonInvalid(f"app.json: {path} {rule}")


def _string(value: object, path: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    if not empty and not value.strip():
        raise _fail(path, "must not be empty")
    return value


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    return value


def _known_keys(obj: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(
            f"{path}.{unknown[0]}", f"is not allowed (allowed: {', '.join(sorted(allowed))})"
        )


def parse(text: str | bytes) -> AppJson:
    """app.json's text → its meaning; raises ``AppJsonInvalid`` on the first broken rule."""
    if len(text) > MAX_BYTES:
        raise AppJsonInvalid(f"app.json: the file must be at most {MAX_BYTES // 1024} KB")
    try:
        data = json.loads(text)
    except UnicodeDecodeError:
        raise AppJsonInvalid("app.json: the file must be UTF-8 text") from None
    except ValueError as exc:
        raise AppJsonInvalid(f"app.json: not valid JSON ({exc})") from None
    try:  # a "\ud800" escape is valid JSON but half a UTF-16 pair: no text can hold it
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise AppJsonInvalid(
            "app.json: the file must be UTF-8 text (it escapes a lone surrogate)"
        ) from None
    root = _object(data, "the top level")
    name = root.get("name")
    if name is not None:
        name = _string(name, "name")
        if len(name) > NAME_MAX:
            raise _fail("name", f"must be at most {NAME_MAX} characters")
    return AppJson(
        name=name,
        env=_env(root.get("env", {})),
        formation=_formation(root.get("formation", {})),
        addons=_addons(root.get("addons", [])),
        buildpacks=_buildpacks(root.get("buildpacks", [])),
        stack=None if root.get("stack") is None else _string(root["stack"], "stack", empty=False),
        postdeploy=_postdeploy(root.get("scripts", {})),
    )


def _env(value: object) -> tuple[EnvVar, ...]:
    env = _object(value, "env")
    out = []
    for key, item in env.items():
        path = f"env.{key}"
        if not ENV_KEY.match(key):
            raise _fail(
                path, "is not a valid name (capital letters, digits and _, starting with a letter)"
            )
        if isinstance(item, str):  # the shorthand: a value
            out.append(EnvVar(key, value=item))
            continue
        spec = _object(item, path)
        _known_keys(spec, path, {"value", "description", "required", "generator"})
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise _fail(f"{path}.required", "must be true or false")
        generator = spec.get("generator")
        if generator is not None and generator != "secret":
            raise _fail(f"{path}.generator", 'must be "secret"')
        var_value = spec.get("value")
        if var_value is not None and not isinstance(var_value, str):
            raise _fail(f"{path}.value", "must be a string")
        if var_value is not None and "\0" in var_value:
            raise _fail(f"{path}.value", "must not contain a NUL character")
        if generator is not None and var_value:
            raise _fail(path, 'must not have both a value and "generator"')
        description = spec.get("description")
        if description is not None:
            _string(description, f"{path}.description")
        out.append(EnvVar(key, var_value, description, required, generator))
    return tuple(out)


def _quantity(value: object, path: str) -> int:
    # JSON booleans are ints to Python: refuse them explicitly.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, "must be a non-negative integer")
    if value > MAX_QUANTITY:
        raise _fail(path, f"must be at most {MAX_QUANTITY}")
    return value


def _formation(value: object) -> dict[str, ProcessFormation]:
    formation = _object(value, "formation")
    out = {}
    for type_, item in formation.items():
        path = f"formation.{type_}"
        if not PROCESS_TYPE.match(type_):
            raise _fail(path, "is not a valid process type (letters, digits, _ and -)")
        if type_ == "release":
            raise _fail(path, "can't be scaled: the release process runs once per release")
        spec = _object(item, path)
        _known_keys(spec, path, {"quantity", "size"})
        quantity = (
            None if "quantity" not in spec else _quantity(spec["quantity"], f"{path}.quantity")
        )
        size = None
        if "size" in spec:
            size = _size(spec["size"], f"{path}.size")
        out[type_] = ProcessFormation(quantity, size)
    return out


def _size(value: object, path: str) -> str:
    try:
        return parse_size(_string(value, path, empty=False))
    except AppJsonInvalid:
        raise
    except InvalidParams:
        raise _fail(path, f"must be a dyno size ({', '.join(SIZES)})") from None


def _addons(value: object) -> tuple[AddonSpec, ...]:
    if not isinstance(value, list):
        raise _fail("addons", "must be an array")
    out = []
    for index, item in enumerate(value):
        path = f"addons[{index}]"
        if isinstance(item, str):
            out.append(AddonSpec(_plan(item, path)))
            continue
        spec = _object(item, path)
        _known_keys(spec, path, {"plan", "as", "options"})
        if "plan" not in spec:
            raise _fail(f"{path}.plan", "is required")
        plan = _plan(spec["plan"], f"{path}.plan")
        attach_as = spec.get("as")
        if attach_as is not None:
            attach_as = _string(attach_as, f"{path}.as")
            if not ATTACHMENT.match(attach_as):
                raise _fail(f"{path}.as", "must be letters, digits and _, starting with a letter")
        options = _object(spec.get("options", {}), f"{path}.options")
        out.append(AddonSpec(plan, attach_as.upper() if attach_as else None, options))
    return tuple(out)


def _plan(value: object, path: str) -> str:
    plan = _string(value, path, empty=False).strip()
    if not ADDON_PLAN.match(plan):
        raise _fail(
            path, 'must be "service" or "service:plan" (e.g. heroku-postgresql:essential-0)'
        )
    return plan


def _buildpacks(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail("buildpacks", "must be an array")
    urls = []
    for index, item in enumerate(value):
        path = f"buildpacks[{index}]"
        spec = _object(item, path)
        _known_keys(spec, path, {"url"})
        if "url" not in spec:
            raise _fail(f"{path}.url", "is required")
        urls.append(_string(spec["url"], f"{path}.url", empty=False).strip())
    return tuple(urls)


def _postdeploy(value: object) -> Script | None:
    scripts = _object(value, "scripts")
    item = scripts.get("postdeploy")
    if item is None:
        return None
    if isinstance(item, str):
        return Script(_string(item, "scripts.postdeploy", empty=False))
    spec = _object(item, "scripts.postdeploy")
    _known_keys(spec, "scripts.postdeploy", {"command", "size"})
    if "command" not in spec:
        raise _fail("scripts.postdeploy.command", "is required")
    command = _string(spec["command"], "scripts.postdeploy.command", empty=False)
    size = _size(spec["size"], "scripts.postdeploy.size") if "size" in spec else None
    return Script(command, size)
