"""Tests for Cove's built-in Python buildpack (src/cove/builder/buildpacks/python).

The buildpack scripts are run for real: real uv, real interpreters from this machine (pyenv and
/usr/bin), real installs from the package index. Apps are generated under tmp_path. One uv cache
is shared by every test (each app's CACHE_DIR/uv is a symlink to it) so only the first install
of a package downloads it.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BUILDPACK = Path(__file__).resolve().parents[2] / "src/cove/builder/buildpacks/python"
LIB = BUILDPACK / "lib"
BAD_REQUIREMENT = "this-package-does-not-exist-cove==1.0"

pytestmark = pytest.mark.timeout(300)


def _version_of(interpreter: str) -> str | None:
    try:
        out = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _discover_pythons() -> dict[str, str]:
    """Full version -> interpreter, Python >= 3.10 only (what a Cove stack would offer)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3.*")))
    candidates += sorted(glob.glob("/usr/bin/python3.*"))
    pythons: dict[str, str] = {}
    for path in candidates:
        if not re.fullmatch(r"python3\.\d+", os.path.basename(path)) or not os.access(
            path, os.X_OK
        ):
            continue
        version = _version_of(path)
        if version and tuple(map(int, version.split(".")[:2])) >= (3, 10):
            pythons.setdefault(version, path)
    return pythons


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


PYTHONS = _discover_pythons()
MAJORS = sorted({".".join(v.split(".")[:2]) for v in PYTHONS}, key=_vkey)


def _newest(major: str) -> str:
    return max((v for v in PYTHONS if v.startswith(major + ".")), key=_vkey)


def _find_uv() -> str | None:
    # Prefer Cove's own venv copy: on this kind of machine `uv` on PATH may be a pyenv shim,
    # which picks a Python from the app's .python-version and fails.
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


UV = _find_uv()
if not PYTHONS or UV is None:
    pytest.skip("needs uv and at least one Python >= 3.10", allow_module_level=True)

DEFAULT_MAJOR = MAJORS[-1]
# A major version that isn't the default, for version-selection tests.
OTHER_MAJOR = MAJORS[-2] if len(MAJORS) > 1 else MAJORS[-1]


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-uv-cache")


class Builder:
    """Runs bin/detect, bin/compile and bin/release like the Cove builder does."""

    def __init__(self, root: Path, uv_cache: Path) -> None:
        self.root = root
        self.cache = root / "cache"
        self.cache.mkdir()
        (self.cache / "uv").symlink_to(uv_cache)
        self.builds = 0

    def env(self, build_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env.update(
            STACK="cove-debian-12",
            COVE_PYTHONS=json.dumps(PYTHONS),
            COVE_PYTHON_DEFAULT=DEFAULT_MAJOR,
            COVE_UV=str(UV),
            # A bare interpreter: the buildpack must only need the standard library.
            COVE_BUILDPACK_PYTHON=getattr(sys, "_base_executable", sys.executable),
            HOME=str(build_dir),
        )
        return env

    def app(self, files: dict[str, str]) -> Path:
        """A fresh build dir (a new "checkout") containing `files`."""
        self.builds += 1
        build_dir = self.root / f"build{self.builds}"
        build_dir.mkdir()
        for name, content in files.items():
            path = build_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
        return build_dir

    def compile(
        self, build_dir: Path, config: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env_dir = self.root / f"env{self.builds}"
        env_dir.mkdir(exist_ok=True)
        for key, value in (config or {}).items():
            (env_dir / key).write_text(value)
        cmd = [str(BUILDPACK / "bin/compile"), str(build_dir), str(self.cache), str(env_dir)]
        return subprocess.run(
            cmd,
            env=self.env(build_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=240,
            check=False,
        )

    def build(
        self, files: dict[str, str], config: dict[str, str] | None = None
    ) -> tuple[Path, subprocess.CompletedProcess[str]]:
        build_dir = self.app(files)
        return build_dir, self.compile(build_dir, config)

    def release(self, build_dir: Path) -> str:
        return subprocess.run(
            [str(BUILDPACK / "bin/release"), str(build_dir)],
            env=self.env(build_dir),
            capture_output=True,
            text=True,
            check=True,
        ).stdout


@pytest.fixture
def builder(tmp_path: Path, uv_cache: Path) -> Builder:
    return Builder(tmp_path, uv_cache)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    return result.stdout


def venv_python(build_dir: Path, code: str) -> str:
    return subprocess.run(
        [str(build_dir / ".heroku/python/bin/python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def venv_has(build_dir: Path, module: str) -> bool:
    return bool(glob.glob(str(build_dir / f".heroku/python/lib/python*/site-packages/{module}*")))


# --- bin/detect -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["requirements.txt", "pyproject.toml", "Pipfile", "uv.lock", ".python-version", "manage.py"],
)
def test_detect_python_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("")
    done = subprocess.run(
        [str(BUILDPACK / "bin/detect"), str(tmp_path)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, "Python")


def test_detect_rejects_non_python_app(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "index.js").write_text("")
    done = subprocess.run(
        [str(BUILDPACK / "bin/detect"), str(tmp_path)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (1, "")


# --- requirements.txt, cache ----------------------------------------------------------------

FLASK_APP = {
    "requirements.txt": "flask\ngunicorn\n",
    "app.py": "from flask import Flask\napp = Flask(__name__)\n",
}


def test_requirements_app_build_then_cache_reuse_then_discard(builder: Builder) -> None:
    first, result = builder.build(FLASK_APP)
    out = ok(result)
    default_msg = "No Python version was specified. Using the buildpack default: Python"
    assert f"-----> {default_msg} {DEFAULT_MAJOR}\n" in out
    assert f"-----> Installing Python {_newest(DEFAULT_MAJOR)}" in out
    assert "-----> Installing dependencies using 'uv pip install -r requirements.txt'" in out
    assert "-----> Saving cache" in out
    assert venv_python(first, "import flask, gunicorn; print('ok')") == "ok"
    assert (first / ".heroku/python/bin/gunicorn").exists()
    assert (first / ".profile.d/python.sh").exists()
    assert (first / ".profile.d/WEB_CONCURRENCY.sh").exists()
    assert builder.release(first) == "---\naddons: []\ndefault_process_types: {}\n"

    # Unchanged requirements, fresh checkout: the cached venv is reused, nothing is installed.
    second, result = builder.build(FLASK_APP)
    out = ok(result)
    assert "-----> Restoring cache" in out
    assert "Installing dependencies" not in out
    assert "Saving cache" not in out
    assert venv_python(second, "import flask; print('ok')") == "ok"

    # Changed requirements: the cache is discarded and everything is installed again.
    third, result = builder.build({**FLASK_APP, "requirements.txt": "flask\ngunicorn\nsix\n"})
    out = ok(result)
    assert (
        "-----> Discarding cache since:\n       - The contents of requirements.txt changed" in out
    )
    assert "Restoring cache" not in out
    assert "-----> Installing dependencies using 'uv pip install -r requirements.txt'" in out
    assert venv_python(third, "import flask, six; print('ok')") == "ok"


def test_a_cached_venv_mounted_in_place_is_used_and_never_copied_or_replaced(
    builder: Builder,
) -> None:
    """Cove mounts the app's cached venv at .heroku/python (a layer under an overlay, see
    cove.builder.layers) and says so in COVE_CACHED_VENV: the buildpack must use it where it
    is, and on a cache miss empty it rather than remove it (a mount point can't be)."""
    ok(builder.build(FLASK_APP)[1])
    saved = builder.cache / "python-venv"
    assert (saved / "pyvenv.cfg").is_file()

    def compile_mounted(files: dict[str, str]) -> tuple[Path, int, str]:
        build_dir = builder.app(files)
        venv = build_dir / ".heroku" / "python"
        venv.parent.mkdir()
        saved.rename(venv)  # what the mount shows; the cache no longer holds it
        inode = venv.stat().st_ino
        result = subprocess.run(
            [str(BUILDPACK / "bin/compile"), str(build_dir), str(builder.cache)],
            env={**builder.env(build_dir), "COVE_CACHED_VENV": str(venv)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=240,
        )
        assert venv.stat().st_ino == inode  # the directory itself stayed
        return build_dir, result.returncode, result.stdout

    build_dir, status, out = compile_mounted(FLASK_APP)
    assert status == 0, out
    assert "-----> Restoring cache" in out and "Installing dependencies" not in out
    assert "Saving cache" not in out and not saved.exists()
    assert venv_python(build_dir, "import flask; print('ok')") == "ok"

    # A miss: the mounted venv is emptied, installed afresh and saved for the next build.
    (build_dir / ".heroku" / "python").rename(saved)
    build_dir, status, out = compile_mounted({**FLASK_APP, "requirements.txt": "flask\nsix\n"})
    assert status == 0, out
    assert "Discarding cache since" in out and "Saving cache" in out
    assert venv_python(build_dir, "import six; print('ok')") == "ok"
    assert not venv_has(build_dir, "gunicorn")  # nothing of the old venv is left
    assert (saved / "pyvenv.cfg").is_file()


def test_a_fresh_venv_is_left_to_cove_rather_than_copied_when_it_keeps_layers(
    builder: Builder,
) -> None:
    """With COVE_VENV_LAYERS, a fresh install isn't copied to the cache: the buildpack
    records what it was built from and asks Cove (a marker) to keep the build's venv."""
    build_dir = builder.app(FLASK_APP)
    result = subprocess.run(
        [str(BUILDPACK / "bin/compile"), str(build_dir), str(builder.cache)],
        env={**builder.env(build_dir), "COVE_VENV_LAYERS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout
    assert "-----> Saving cache" in result.stdout
    assert (builder.cache / "python-venv.take").is_file()
    assert (builder.cache / "python-cache.json").is_file()
    assert not (builder.cache / "python-venv").exists()
    assert venv_python(build_dir, "import flask; print('ok')") == "ok"


def test_failing_install_shows_uv_error(builder: Builder) -> None:
    build_dir, result = builder.build({"requirements.txt": f"{BAD_REQUIREMENT}\n"})
    out = failed(result)
    assert "this-package-does-not-exist-cove" in out
    assert "was not found in the package registry" in out or "No solution found" in out
    assert "Couldn't install the app's dependencies" in out
    assert not (builder.cache / "python-cache.json").exists()
    assert not (build_dir / ".profile.d").exists()


# --- Python version selection ---------------------------------------------------------------


def test_runtime_txt_selects_exact_version(builder: Builder) -> None:
    version = _newest(OTHER_MAJOR)
    build_dir, result = builder.build(
        {"runtime.txt": f"python-{version}\n", "requirements.txt": "six\n"}
    )
    out = ok(result)
    assert f"-----> Using Python {version} specified in runtime.txt" in out
    assert f"-----> Installing Python {version}" in out
    assert venv_python(build_dir, "import platform; print(platform.python_version())") == version


def test_python_version_file_selects_newest_patch(builder: Builder) -> None:
    files = {".python-version": f"# comment\n\n{OTHER_MAJOR}\n", "requirements.txt": "six\n"}
    build_dir, result = builder.build(files)
    out = ok(result)
    assert f"-----> Using Python {OTHER_MAJOR} specified in .python-version" in out
    version = venv_python(build_dir, "import platform; print(platform.python_version())")
    assert version == _newest(OTHER_MAJOR)

    # Switching version discards the cache. The last build is said to have used another
    # version (a machine may have a single Python: checked the same way everywhere).
    meta_file = builder.cache / "python-cache.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "python_version": "3.9.0"}))
    _, result = builder.build(files)
    out = ok(result)
    assert "-----> Discarding cache since:" in out
    assert f"The Python version has changed from 3.9.0 to {version}" in out


def test_unspecified_version_sticks_to_last_build(builder: Builder) -> None:
    build_dir, result = builder.build({"requirements.txt": "six\n"})
    ok(result)
    # The stack's default moves on to a major version the stack doesn't even have: an app
    # that never chose a version keeps its major version (else the build fails for want
    # of that version), with one Python on the machine or several.
    build_dir = builder.app({"requirements.txt": "six\n"})
    env = builder.env(build_dir)
    env["COVE_PYTHON_DEFAULT"] = next(f"3.{m}" for m in range(10, 40) if f"3.{m}" not in MAJORS)
    result = subprocess.run(
        [str(BUILDPACK / "bin/compile"), str(build_dir), str(builder.cache)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    out = ok(result)
    assert f"Using the same major version as the last build: Python {DEFAULT_MAJOR}\n" in out
    assert "-----> Restoring cache" in out


@pytest.mark.parametrize("major", MAJORS)
def test_packaging_tools_follow_heroku(builder: Builder, major: str) -> None:
    """Heroku (v351): pip apps get pip 26.2.1, plus setuptools 70.3.0 (with pkg_resources)
    on Python 3.12 and older; no wheel; other package managers get neither."""
    old = _vkey(major) <= (3, 12)
    build_dir, result = builder.build({".python-version": major, "requirements.txt": "six\n"})
    out = ok(result)
    tools = "pip 26.2.1 and setuptools 70.3.0" if old else "pip 26.2.1"
    assert f"-----> Installing {tools}\n" in out
    assert venv_python(build_dir, "import pip; print(pip.__version__)") == "26.2.1"
    assert venv_has(build_dir, "pkg_resources") == old
    assert venv_has(build_dir, "setuptools") == old
    assert not venv_has(build_dir, "wheel")

    files = {".python-version": major, "pyproject.toml": PROJECT, "tools_check.py": ""}
    build_dir, result = builder.build(files)
    ok(result)
    assert not venv_has(build_dir, "setuptools-")  # (only the project's build used it)
    assert not venv_has(build_dir, "wheel")


PROJECT = """\
    [project]
    name = "tools-check"
    version = "0.1.0"
    description = "An app that is a project, with no requirements.txt"
    dependencies = ["six"]

    [build-system]
    requires = ["flit_core>=3.9"]
    build-backend = "flit_core.buildapi"
    """


def test_unavailable_version_lists_available(builder: Builder) -> None:
    _, result = builder.build({"runtime.txt": "python-3.9.99\n", "requirements.txt": ""})
    out = failed(result)
    assert result.returncode == 1
    available = ", ".join(sorted(PYTHONS, key=_vkey))
    assert (
        f" !     Python 3.9.99 was requested in runtime.txt, but this Cove stack only has: "
        f"{available}" in out
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({".python-version": "3.12\n3.11\n"}, "Multiple Python versions were found"),
        ({".python-version": "# nothing\n"}, "No Python version was found in .python-version"),
        ({".python-version": "python3\n"}, "Invalid Python version in .python-version"),
        ({"runtime.txt": "3.12\n"}, "Invalid Python version in runtime.txt"),
        ({"python-version": "3.12\n"}, "Found a 'python-version' file instead of"),
    ],
)
def test_malformed_version_files(builder: Builder, files: dict[str, str], message: str) -> None:
    _, result = builder.build({"requirements.txt": "", **files})
    assert message in failed(result)


# --- other package managers ------------------------------------------------------------------


def test_pipfile_lock_app(builder: Builder) -> None:
    lock = {
        "_meta": {
            "requires": {"python_version": OTHER_MAJOR},
            "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}],
        },
        "default": {
            "six": {"version": "==1.17.0", "index": "pypi"},
            "iniconfig": {"version": "==2.0.0", "markers": "python_version < '3.0'"},
        },
        "develop": {"pytest": {"version": "==8.0.0"}},
    }
    build_dir, result = builder.build(
        {"Pipfile": "[packages]\nsix = '*'\n", "Pipfile.lock": json.dumps(lock)}
    )
    out = ok(result)
    assert f"-----> Using Python {OTHER_MAJOR} specified in Pipfile.lock" in out
    assert venv_python(build_dir, "import six; print(six.__version__)") == "1.17.0"
    assert not venv_has(build_dir, "iniconfig")  # marker excludes it
    assert not venv_has(build_dir, "pytest")  # develop packages aren't installed


def test_pipfile_without_lock_fails(builder: Builder) -> None:
    _, result = builder.build({"Pipfile": "[packages]\nsix = '*'\n"})
    assert "No 'Pipfile.lock' found!" in failed(result)


def test_uv_lock_app(builder: Builder, uv_cache: Path) -> None:
    files = {
        ".python-version": f"{OTHER_MAJOR}\n",
        "pyproject.toml": """\
            [project]
            name = "uvapp"
            version = "0.1.0"
            requires-python = ">=3.10"
            dependencies = ["six"]

            [dependency-groups]
            dev = ["iniconfig"]
            """,
    }
    build_dir = builder.app(files)
    env = builder.env(build_dir)
    env.update(UV_CACHE_DIR=str(uv_cache), UV_PYTHON=PYTHONS[_newest(OTHER_MAJOR)])
    subprocess.run([str(UV), "lock", "--quiet"], cwd=build_dir, env=env, check=True, timeout=120)
    out = ok(builder.compile(build_dir))
    assert "-----> Installing dependencies using 'uv sync --locked --no-default-groups'" in out
    assert venv_python(build_dir, "import six, sys; print(sys.version_info[:2])") == str(
        tuple(int(p) for p in OTHER_MAJOR.split("."))
    )
    assert not venv_has(build_dir, "iniconfig")  # dev group isn't installed
    assert not (build_dir / ".venv").exists()

    # Warm rebuild: cache restored, `uv sync` only checks the environment.
    warm_dir = builder.app(files)
    shutil.copy(build_dir / "uv.lock", warm_dir / "uv.lock")
    out = ok(builder.compile(warm_dir))
    assert "-----> Restoring cache" in out
    assert venv_python(warm_dir, "import six; print('ok')") == "ok"


def test_uv_lock_requires_python_version_file(builder: Builder) -> None:
    _, result = builder.build({"uv.lock": "version = 1\n", "pyproject.toml": "[project]\n"})
    assert "uv apps must declare their Python version in a .python-version" in failed(result)


def test_poetry_lock_app(builder: Builder) -> None:
    # A Poetry 2 lock (lock-version 2.1) written by hand: installed with uv, main group only.
    lock = """\
        [[package]]
        name = "six"
        version = "1.17.0"
        description = ""
        optional = false
        python-versions = ">=2.7"
        groups = ["main"]
        files = [
            {file = "six-1.17.0-py2.py3-none-any.whl", hash = "sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"},
            {file = "six-1.17.0.tar.gz", hash = "sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81"},
        ]

        [[package]]
        name = "iniconfig"
        version = "2.0.0"
        description = ""
        optional = false
        python-versions = ">=3.7"
        groups = ["dev"]
        files = [
            {file = "iniconfig-2.0.0-py3-none-any.whl", hash = "sha256:b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374"},
        ]

        [metadata]
        lock-version = "2.1"
        python-versions = ">=3.10"
        content-hash = "0"
        """  # noqa: E501
    pyproject = """\
        [project]
        name = "poetryapp"
        version = "0.1.0"
        dependencies = ["six"]

        [tool.poetry]
        package-mode = false
        """
    build_dir, result = builder.build({"poetry.lock": lock, "pyproject.toml": pyproject})
    out = ok(result)
    assert "Installing dependencies using 'uv pip install -r <packages from poetry.lock>'" in out
    assert venv_python(build_dir, "import six; print(six.__version__)") == "1.17.0"
    assert not venv_has(build_dir, "iniconfig")


# A project installed as a package by uv (no requirements.txt): a single top-level module.
PROJECT_APP = {
    "pyproject.toml": """\
        [project]
        name = "projapp"
        version = "0.1.0"
        dependencies = ["six"]

        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        """,
    "projapp.py": "VALUE = 42\n",
}


def test_pyproject_only_project_is_installed(builder: Builder) -> None:
    build_dir, result = builder.build(PROJECT_APP)
    out = ok(result)
    assert "-----> Installing dependencies using 'uv pip install .'" in out
    assert venv_python(build_dir, "import os, projapp, six; print(projapp.VALUE)") == "42"

    # Same dependencies, changed code: cached venv restored, the project itself reinstalled.
    build_dir, result = builder.build({**PROJECT_APP, "projapp.py": "VALUE = 43\n"})
    out = ok(result)
    assert "-----> Restoring cache" in out
    assert "'uv pip install --reinstall --no-deps .'" in out
    assert venv_python(build_dir, "import projapp; print(projapp.VALUE)") == "43"


def pin_module_mtime_to_cached_pyc(cache: Path, module: str) -> None:
    """Make every later interpreter of the cached venv see site-packages/`module`.py with the
    source mtime its cached .pyc records: what a rebuild landing in the same second as the last
    build sees, since a reinstalled file's mtime is its install time. A .pth file runs in every
    interpreter started from the venv, including the one uv compiles bytecode with right after
    installing: the collision happens every time, not once in a while."""
    (site,) = (cache / "python-venv/lib").glob("python*/site-packages")
    (pyc,) = (site / "__pycache__").glob(f"{module}.*.pyc")
    flags, mtime = struct.unpack("<II", pyc.read_bytes()[4:12])
    assert flags == 0, "expected a timestamp-based .pyc from a fresh install"
    (site / "zz-pin-mtime.pth").write_text(
        "import glob, os, sys; "
        f"[os.utime(p, ({mtime}, {mtime})) for p in glob.glob(os.path.join("
        f"sys.prefix, 'lib', 'python*', 'site-packages', '{module}.py'))]\n"
    )


@pytest.mark.parametrize(
    "extra", [{}, {"requirements.txt": ".\n"}], ids=["pyproject-only", "requirements-local-path"]
)
def test_cached_rebuild_in_same_second_ships_new_module(
    builder: Builder, extra: dict[str, str]
) -> None:
    # uv's uninstall leaves site-packages/__pycache__/projapp.*.pyc behind and --compile-bytecode
    # keeps a .pyc whose recorded mtime and size (11 bytes both times) match the new source.
    files = {**PROJECT_APP, **extra}
    ok(builder.build(files)[1])
    pin_module_mtime_to_cached_pyc(builder.cache, "projapp")

    build_dir, result = builder.build({**files, "projapp.py": "VALUE = 43\n"})
    assert "-----> Restoring cache" in ok(result)
    assert venv_python(build_dir, "import projapp; print(projapp.VALUE)") == "43"


def test_multiple_package_managers_fail(builder: Builder) -> None:
    _, result = builder.build({"requirements.txt": "six\n", "poetry.lock": "", "uv.lock": ""})
    out = failed(result)
    assert "Multiple Python package manager files were found" in out
    assert "requirements.txt" in out and "poetry.lock" in out and "uv.lock" in out


def test_no_package_manager_lists_root_files(builder: Builder) -> None:
    _, result = builder.build({"app.py": "", "static/x.css": ""})
    out = failed(result)
    assert "Couldn't find any supported Python package manager files" in out
    assert "  app.py" in out and "  static/" in out


def test_committed_virtualenv_fails(builder: Builder) -> None:
    _, result = builder.build({"requirements.txt": "", ".venv/pyvenv.cfg": "home = /usr\n"})
    assert "A Python virtual environment was found in the app source: .venv/" in failed(result)


# --- Django collectstatic, hooks -------------------------------------------------------------

DJANGO_APP = {
    "requirements.txt": "django\n",
    "manage.py": """\
        import os, sys
        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        """,
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
        import os
        from pathlib import Path
        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = os.environ["SECRET_KEY"]
        INSTALLED_APPS = ["django.contrib.staticfiles"]
        STATIC_URL = "static/"
        STATIC_ROOT = BASE_DIR / "staticfiles"
        STATICFILES_DIRS = [BASE_DIR / "static"]
        """,
    "static/site.css": "body { color: red; }\n",
}


def test_django_collectstatic(builder: Builder) -> None:
    config = {"SECRET_KEY": "from-config-var"}  # settings.py needs config vars exported
    build_dir, result = builder.build(DJANGO_APP, config)
    out = ok(result)
    assert "-----> $ python manage.py collectstatic --noinput" in out
    assert (build_dir / "staticfiles/site.css").read_text() == "body { color: red; }\n"
    assert builder.release(build_dir) == "---\naddons: []\ndefault_process_types: {}\n"

    build_dir, result = builder.build(DJANGO_APP, {**config, "DISABLE_COLLECTSTATIC": "1"})
    out = ok(result)
    assert "Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set." in out
    assert not (build_dir / "staticfiles").exists()

    # A broken settings module fails the build and shows Django's error.
    broken = {**DJANGO_APP, "mysite/settings.py": DJANGO_APP["mysite/settings.py"] + "1/0\n"}
    _, result = builder.build(broken, config)
    out = failed(result)
    assert "ZeroDivisionError" in out
    assert "Error while running '$ python manage.py collectstatic --noinput'" in out


def test_release_adds_postgres_for_django_with_psycopg2(tmp_path: Path) -> None:
    site = tmp_path / ".heroku/python/lib/python3.12/site-packages"
    for module in ("django", "psycopg2"):
        (site / module).mkdir(parents=True)
        (site / module / "__init__.py").write_text("")
    (tmp_path / "manage.py").write_text("")
    out = subprocess.run(
        [str(BUILDPACK / "bin/release"), str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    assert out == "---\naddons:\n  - heroku-postgresql\ndefault_process_types: {}\n"


def test_compile_hooks(builder: Builder) -> None:
    files = {
        "requirements.txt": "six\n",
        # No shebang, not executable: still run (with bash).
        "bin/pre_compile": 'echo "pre sees $GREETING"\necho generated > generated.txt\n',
        "bin/post_compile": """\
            #!/usr/bin/env bash
            set -e
            python -c 'import six; print("post sees six", six.__version__)'
            """,
    }
    build_dir, result = builder.build(files, {"GREETING": "hello", "PATH": "/nope"})
    out = ok(result)
    assert "-----> Running pre-compile hook\n       pre sees hello" in out
    assert "-----> Running post-compile hook\n       post sees six 1.17.0" in out
    assert (build_dir / "generated.txt").exists()

    failing = {**files, "bin/post_compile": "#!/bin/sh\necho boom\nexit 3\n"}
    _, result = builder.build(failing)
    out = failed(result)
    assert "boom" in out
    assert "Failed to run the post_compile hook: bin/post_compile exited with status 3." in out


# --- .profile.d ------------------------------------------------------------------------------


def source_profile(build_dir: Path, extra_env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Source .profile.d/*.sh with bash as a dyno would (HOME = app dir); return env, stderr."""
    script = 'for f in "$HOME"/.profile.d/*.sh; do . "$f"; done; env -0'
    env = {"HOME": str(build_dir), "PATH": "/usr/local/bin:/usr/bin:/bin", **extra_env}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, check=True)
    pairs = (item.split(b"=", 1) for item in done.stdout.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}, done.stderr.decode()


def test_profile_d_environment(builder: Builder, tmp_path: Path) -> None:
    build_dir, result = builder.build({"requirements.txt": "six\n"})
    ok(result)
    cores = len(os.sched_getaffinity(0))
    v1 = tmp_path / "cg1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory/memory.limit_in_bytes").write_text(f"{1024 * 1048576}\n")

    env, stderr = source_profile(build_dir, {"COVE_CGROUP_ROOT": str(v1), "DYNO": "web.1"})
    assert env["PATH"].split(":")[0] == f"{build_dir}/.heroku/python/bin"
    assert env["PYTHONUNBUFFERED"] == "true"
    assert env["PYTHONPATH"] == str(build_dir)
    assert env["LANG"] == "C.UTF-8"
    assert env["FORWARDED_ALLOW_IPS"] == "*"
    assert env["GUNICORN_CMD_ARGS"] == "--access-logfile -"
    assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert env["DYNO_RAM"] == "1024"
    assert env["WEB_CONCURRENCY"] == str(min(cores * 2 + 1, 4))
    assert env["WEB_CONCURRENCY_SET_BY"] == "heroku/python"
    assert f"Python buildpack: Detected 1024 MB available memory and {cores} CPU cores." in stderr
    # The venv's python is first on PATH and works from the dyno's point of view.
    python = subprocess.run(
        ["bash", "-c", '. "$HOME/.profile.d/python.sh"; python -c "import six; print(1)"'],
        env={"HOME": str(build_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert python.stdout.strip() == "1"

    # cgroup v2 without a limit: DYNO_RAM from the platform; config vars win; quiet for workers.
    v2 = tmp_path / "cg2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    overrides = {
        "COVE_CGROUP_ROOT": str(v2),
        "DYNO": "worker.1",
        "DYNO_RAM": "2560",
        "LANG": "de_DE.UTF-8",
        "GUNICORN_CMD_ARGS": "--timeout 5",
        "PYTHONPATH": "/srv",
    }
    env, stderr = source_profile(build_dir, overrides)
    assert env["DYNO_RAM"] == "2560"
    assert env["WEB_CONCURRENCY"] == str(min(cores * 2 + 1, 10))
    assert (env["LANG"], env["GUNICORN_CMD_ARGS"], env["PYTHONPATH"]) == (
        "de_DE.UTF-8",
        "--timeout 5",
        "/srv",
    )
    assert stderr == ""

    # No usable limit and no DYNO_RAM: 512 MB; an explicit WEB_CONCURRENCY is kept.
    (v2 / "memory.max").write_text(f"{4 * 1024**4}\n")  # 4 TB: absurd, ignored
    env, stderr = source_profile(
        build_dir, {"COVE_CGROUP_ROOT": str(v2), "DYNO": "web.2", "WEB_CONCURRENCY": "7"}
    )
    assert (env["DYNO_RAM"], env["WEB_CONCURRENCY"]) == ("512", "7")
    assert "WEB_CONCURRENCY_SET_BY" not in env
    assert "Skipping automatic configuration of WEB_CONCURRENCY" in stderr


# --- pure helpers ----------------------------------------------------------------------------


@pytest.fixture
def lib(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The buildpack's lib modules (top-level names like `output`), unloaded afterwards."""
    monkeypatch.syspath_prepend(str(LIB))
    before = set(sys.modules)
    names = ("pipfile_lock", "poetry_lock", "collectstatic", "python_version")
    yield {name: importlib.import_module(name) for name in names}
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "")).startswith(str(LIB)):
            del sys.modules[name]


def test_pipfile_lock_conversion(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    convert = lib["pipfile_lock"].to_requirements
    hashed = {"default": {"a": {"version": "==1.0", "hashes": ["sha256:aa"], "extras": ["x"]}}}
    assert convert(hashed, str(tmp_path)) == "a[x]==1.0 --hash=sha256:aa\n"
    mixed = {
        "_meta": {"sources": [{"url": "https://pypi.org/simple"}, {"url": "https://example/s"}]},
        "default": {
            "a": {"version": "==1.0", "hashes": ["sha256:aa"], "markers": "os_name == 'nt'"},
            "b": {"git": "https://example/b.git", "ref": "abc123"},
            "c": {"path": ".", "editable": True},
        },
    }
    assert convert(mixed, str(tmp_path)).splitlines() == [
        "--extra-index-url https://example/s",
        "a==1.0 ; os_name == 'nt'",
        "b @ git+https://example/b.git@abc123",
        f"-e {tmp_path}",
    ]


def test_poetry_lock_conversion(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    mod = lib["poetry_lock"]
    lock = {
        "metadata": {"lock-version": "2.1"},
        "package": [
            {"name": "a", "version": "1", "groups": ["main"], "files": [{"hash": "sha256:1"}]},
            {"name": "b", "version": "2", "groups": ["dev"], "files": []},
            {"name": "c", "version": "3", "groups": ["main"], "optional": True},
            {
                "name": "d",
                "version": "4",
                "groups": ["main", "dev"],
                "markers": {"main": "sys_platform == 'linux'"},
                "files": [{"hash": "sha256:4"}],
            },
        ],
    }
    assert mod.supports_uv(lock)
    assert not mod.supports_uv({"metadata": {"lock-version": "2.0"}})
    assert mod.to_requirements(lock, str(tmp_path)).splitlines() == [
        "a==1 --hash=sha256:1",
        "d==4 ; sys_platform == 'linux' --hash=sha256:4",
    ]


def test_find_manage_py_prefers_shallowest(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    find = lib["collectstatic"].find_manage_py
    assert find(str(tmp_path)) is None
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "a/b/c/manage.py").write_text("")  # depth 4: too deep
    assert find(str(tmp_path)) is None
    (tmp_path / "a/b/manage.py").write_text("")
    (tmp_path / "z").mkdir()
    (tmp_path / "z/manage.py").write_text("")
    assert find(str(tmp_path)) == str(tmp_path / "z/manage.py")


def test_version_selection_rules(lib: dict[str, ModuleType]) -> None:
    mod = lib["python_version"]
    pythons = {"3.11.7": "/py311", "3.12.1": "/py3121", "3.12.10": "/py31210"}
    select = mod.select
    assert select(mod.Requested("3.12", "x"), pythons) == mod.Selected("3.12.10", "/py31210")
    assert select(mod.Requested("3.12.1", "x"), pythons).interpreter == "/py3121"
    with pytest.raises(mod.BuildError, match=r"only has: 3\.11\.7, 3\.12\.1, 3\.12\.10"):
        select(mod.Requested("3.13", "default"), pythons)
