"""Choose the Python version for the app and map it to an interpreter the stack provides.

Precedence (as Heroku): runtime.txt, .python-version, Pipfile.lock (pipenv apps only), the
major version used by the last build (from the cache metadata), the stack default.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass

import stack_install
from output import BuildError

VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
RUNTIME_TXT_RE = re.compile(r"^python-(\d+\.\d+(?:\.\d+)?)$")

# Names people use by mistake for .python-version; we refuse to silently ignore them.
PYTHON_VERSION_MISSPELLINGS = (
    ".python_version",
    "python-version",
    "python_version",
    ".python-version.txt",
    "python-version.txt",
    ".python_version.txt",
    "python_version.txt",
    ".python-versions",
    ".python.version",
    ".pythonversion",
)


@dataclass(frozen=True)
class Requested:
    spec: str  # "3.12" or "3.12.1"
    origin: str  # "runtime.txt", ".python-version", "Pipfile.lock", "last build", "default"

    def message(self) -> str:
        if self.origin == "default":
            return (
                f"No Python version was specified. Using the buildpack default: Python {self.spec}"
            )
        if self.origin == "last build":
            return (
                "No Python version was specified. "
                f"Using the same major version as the last build: Python {self.spec}"
            )
        return f"Using Python {self.spec} specified in {self.origin}"


@dataclass(frozen=True)
class Selected:
    version: str  # full version, e.g. "3.12.1"
    interpreter: str  # absolute path of the stack's interpreter

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])


def parse_version(text: str) -> tuple[int, ...] | None:
    match = VERSION_RE.match(text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def available_pythons(environ: dict[str, str]) -> dict[str, str]:
    """Full version -> interpreter path, from COVE_PYTHONS (JSON object).

    Without COVE_PYTHONS (running the buildpack by hand) the interpreter running the buildpack
    is the only one available. It may be empty where Cove's server installs versions on
    request (COVE_RUNTIME_INSTALLER).
    """
    raw = environ.get("COVE_PYTHONS", "").strip()
    if not raw:
        info = sys.version_info
        return {f"{info.major}.{info.minor}.{info.micro}": sys.executable}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BuildError(f"COVE_PYTHONS isn't valid JSON ({exc}). This is a Cove bug.") from exc
    if not isinstance(data, dict):
        raise BuildError("COVE_PYTHONS must be a JSON object. This is a Cove bug.")
    pythons = {
        str(version): str(path)
        for version, path in data.items()
        if parse_version(str(version)) is not None and len(str(version).split(".")) == 3
    }
    if not pythons and not stack_install.installer(environ):
        raise BuildError("This Cove stack provides no Python interpreters (COVE_PYTHONS is empty).")
    return pythons


def _sorted_versions(pythons: dict[str, str]) -> list[str]:
    return sorted(pythons, key=lambda v: parse_version(v) or ())


def default_spec(environ: dict[str, str], pythons: dict[str, str]) -> str:
    spec = environ.get("COVE_PYTHON_DEFAULT", "").strip()
    if spec:
        return spec
    if not pythons:
        raise BuildError("COVE_PYTHON_DEFAULT is unset and the stack is empty. This is a Cove bug.")
    newest = _sorted_versions(pythons)[-1]
    return ".".join(newest.split(".")[:2])


def _read_text(path: str, name: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise BuildError(f"Unable to read {name}: it must be a UTF-8 encoded text file.") from exc


def _from_runtime_txt(path: str) -> str:
    lines = [
        line.strip()
        for line in _read_text(path, "runtime.txt").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    match = RUNTIME_TXT_RE.match(lines[0]) if len(lines) == 1 else None
    if not match:
        shown = " ".join(lines) or "(empty)"
        raise BuildError(
            f"Invalid Python version in runtime.txt: {shown!r}\n"
            "\n"
            "The Python version must be written as 'python-X.Y' or 'python-X.Y.Z',\n"
            "for example 'python-3.13'. Better: delete runtime.txt and create a\n"
            ".python-version file containing just '3.13'."
        )
    return match.group(1)


def _from_python_version_file(path: str) -> str:
    versions = [
        line.strip()
        for line in _read_text(path, ".python-version").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if not versions:
        raise BuildError(
            "No Python version was found in .python-version.\n"
            "\n"
            "Put a single major version like '3.13' on its own line (comments starting with # and\n"
            "blank lines are ignored)."
        )
    if len(versions) > 1:
        raise BuildError(
            "Multiple Python versions were found in .python-version:\n"
            "\n" + "\n".join(f"  {v}" for v in versions) + "\n\n"
            "Only one version can be used: keep a single line like '3.13'."
        )
    if parse_version(versions[0]) is None:
        raise BuildError(
            f"Invalid Python version in .python-version: {versions[0]!r}\n"
            "\n"
            "Specify a major version like '3.13' (recommended) or an exact version like '3.13.1'."
        )
    return versions[0]


def _from_pipfile_lock(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BuildError(f"Can't parse Pipfile.lock: {exc}") from exc
    requires = (data.get("_meta") or {}).get("requires") or {}
    for key in ("python_full_version", "python_version"):
        value = requires.get(key)
        if value is None:
            continue
        value = str(value).strip()
        if parse_version(value) is None:
            raise BuildError(
                f"Invalid Python version in Pipfile.lock: {key} = {value!r}\n"
                "\n"
                "Set 'python_version' in the [requires] section of Pipfile to e.g. '3.13',\n"
                "then regenerate the lock file with 'pipenv lock'."
            )
        return value
    return None


def requested_version(
    build_dir: str,
    package_manager: str,
    environ: dict[str, str],
    pythons: dict[str, str],
    last_build_version: str | None,
) -> Requested:
    runtime_txt = os.path.join(build_dir, "runtime.txt")
    python_version = os.path.join(build_dir, ".python-version")
    if os.path.isfile(runtime_txt):
        if package_manager == "uv":
            raise BuildError(
                "The runtime.txt file isn't supported for uv apps.\n"
                "\n"
                "Delete runtime.txt and specify the Python version in .python-version instead\n"
                "(uv reads it too), for example: echo '3.13' > .python-version"
            )
        return Requested(_from_runtime_txt(runtime_txt), "runtime.txt")
    if os.path.isfile(python_version):
        return Requested(_from_python_version_file(python_version), ".python-version")
    for name in PYTHON_VERSION_MISSPELLINGS:
        if os.path.isfile(os.path.join(build_dir, name)):
            raise BuildError(
                f"Found a '{name}' file instead of '.python-version'.\n"
                "\n"
                f"Rename it to '.python-version' (e.g. git mv {name} .python-version)."
            )
    if package_manager == "uv":
        raise BuildError(
            "No Python version was specified.\n"
            "\n"
            "uv apps must declare their Python version in a .python-version file\n"
            "(for example: echo '3.13' > .python-version), and commit it."
        )
    if package_manager == "pipenv":
        spec = _from_pipfile_lock(os.path.join(build_dir, "Pipfile.lock"))
        if spec:
            return Requested(spec, "Pipfile.lock")
    if last_build_version:
        major = ".".join(last_build_version.split(".")[:2])
        if any(v.startswith(major + ".") for v in pythons) or stack_install.installer(environ):
            return Requested(major, "last build")
    return Requested(default_spec(environ, pythons), "default")


def _where(requested: Requested) -> str:
    return {
        "default": "as the buildpack default (COVE_PYTHON_DEFAULT)",
        "last build": "by the last build",
    }.get(requested.origin, f"in {requested.origin}")


def choose(requested: Requested, pythons: dict[str, str], environ: dict[str, str]) -> Selected:
    """The stack's interpreter for the request; where the stack has none and Cove's server
    installs versions, it is asked for one (and it explains any failure)."""
    path = stack_install.installer(environ)
    if path is None or _match(requested, pythons) is not None:
        return select(requested, pythons)
    version, interpreter = stack_install.request(path, requested.spec, _where(requested))
    pythons[version] = interpreter
    return Selected(version, interpreter)


def _match(requested: Requested, pythons: dict[str, str]) -> str | None:
    wanted = parse_version(requested.spec)
    versions = _sorted_versions(pythons)
    if wanted is not None:
        matches = [v for v in versions if (parse_version(v) or ())[: len(wanted)] == wanted]
        if matches:
            return matches[-1]
    return None


def select(requested: Requested, pythons: dict[str, str]) -> Selected:
    """Map the request onto an available interpreter (X.Y -> newest X.Y.Z)."""
    match = _match(requested, pythons)
    if match is not None:
        return Selected(match, pythons[match])
    versions = _sorted_versions(pythons)
    available = ", ".join(versions)
    where = _where(requested)
    majors = sorted({".".join(v.split(".")[:2]) for v in versions}, key=parse_version)
    raise BuildError(
        f"Python {requested.spec} was requested {where}, "
        f"but this Cove stack only has: {available}\n"
        "\n"
        f"Use one of those versions instead, preferably a major version such as {majors[-1]}."
    )
