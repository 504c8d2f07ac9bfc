"""The app's package.json: the fields the build acts on."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from output import BuildError


@dataclass(frozen=True)
class PackageJson:
    scripts: dict[str, str] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    package_manager: str = ""  # the "packageManager" field: "pnpm@9.1.0+sha512...."
    cache_directories: tuple[str, ...] = ()

    def has_script(self, name: str) -> bool:
        return bool(self.scripts.get(name))


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}


def read(build_dir: str) -> PackageJson:
    path = os.path.join(build_dir, "package.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise BuildError("This app has no package.json at the root of its repository.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BuildError(
            f"Unable to parse package.json: {exc}\n"
            "Fix the JSON in package.json (`npm pkg get` reads it back), commit it and push again."
        ) from None
    if not isinstance(data, dict):
        raise BuildError("package.json must hold a JSON object.")
    dirs = data.get("cacheDirectories") or data.get("cache_directories") or []
    return PackageJson(
        scripts=_strings(data.get("scripts")),
        engines=_strings(data.get("engines")),
        package_manager=str(data.get("packageManager") or "").strip(),
        cache_directories=tuple(str(d) for d in dirs if isinstance(d, str)),
    )
