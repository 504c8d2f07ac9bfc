"""Create the app's virtualenv and install its dependencies with uv.

Lock files of other tools (Pipfile.lock, poetry.lock) are converted to pinned requirements
and installed with uv too; only pre-2.1 poetry.lock files are installed by Poetry itself.

The stack's interpreter isn't copied: BUILD_DIR/.heroku/python is a relocatable venv whose
bin/python symlinks to the interpreter, which the stack provides at the same path at run time.
"""

from __future__ import annotations

import os
import shutil

import pipfile_lock
import poetry_lock
from output import BuildError, capture, detail, run, step

POETRY_VERSION = "2.5.1"
# Packaging tools in the app's environment, as Heroku's Python buildpack v351 (2026-08-18):
# pip (requirements/pip.txt), and for pip apps on Python 3.12 and older setuptools pinned
# at 70.3.0 (lib/pip.sh; the last release with pkg_resources that its apps rely on); no
# wheel since v328. See the README.
PIP_VERSION = "26.2.1"
SETUPTOOLS_VERSION = "70.3.0"


def find_uv(environ: dict[str, str]) -> str:
    uv = environ.get("COVE_UV") or shutil.which("uv")
    if not uv or not os.access(uv, os.X_OK):
        raise BuildError(
            "The uv binary wasn't found (COVE_UV is unset or not executable). This is a Cove bug."
        )
    return uv


def uv_version(uv: str) -> str:
    # "uv 0.13.8 (x86_64-unknown-linux-gnu)" -> "0.13.8"
    parts = capture([uv, "--version"]).split()
    return parts[1] if len(parts) > 1 else "unknown"


def packaging_tools(package_manager: str, python_version: str) -> list[str]:
    """Requirements for the tools installed before the app's packages (Heroku's rule)."""
    major = tuple(int(p) for p in python_version.split(".")[:2])
    # pip 26 needs Python 3.10+ (older ones are Cove's own extension: their newest pip).
    tools = [f"pip=={PIP_VERSION}" if major >= (3, 10) else "pip"]
    if package_manager == "pip" and major <= (3, 12):
        tools.append(f"setuptools=={SETUPTOOLS_VERSION}")
    return tools


def tool_version(package_manager: str, uv: str, tools: list[str]) -> str:
    version = ", ".join([f"uv {uv_version(uv)}", *(t.replace("==", " ") for t in tools)])
    return f"poetry {POETRY_VERSION}, {version}" if package_manager == "poetry" else version


def create_venv(
    uv: str, interpreter: str, venv: str, env: dict[str, str], tools: list[str]
) -> None:
    # --relocatable: scripts find their interpreter relative to themselves, so the venv works
    # from any BUILD_DIR and survives being copied to/from the cache.
    cmd = [uv, "venv", "--quiet", "--relocatable", "--no-project", "--clear"]
    if run([*cmd, "--python", interpreter, venv], env=env) != 0:
        raise BuildError(f"Couldn't create the virtual environment with {interpreter}.")
    step("Installing " + " and ".join(t.replace("==", " ") for t in tools))
    python = os.path.join(venv, "bin", "python")
    if run([uv, "pip", "install", "--quiet", "--python", python, *tools], env=env) != 0:
        raise BuildError(
            "Couldn't install the packaging tools (" + ", ".join(tools) + ").\n"
            "\n"
            "See the output above for the reason."
        )


class Installer:
    def __init__(
        self,
        build_dir: str,
        cache_dir: str,
        uv: str,
        interpreter: str,
        venv: str,
        env: dict[str, str],
    ) -> None:
        self.build_dir = build_dir
        self.cache_dir = cache_dir
        self.uv = uv
        self.interpreter = interpreter
        self.venv = venv
        self.env = env
        self.python = os.path.join(venv, "bin", "python")

    def _uv_pip(self, *args: str) -> list[str]:
        return [self.uv, "pip", "install", "--python", self.python, "--compile-bytecode", *args]

    def _run(self, shown: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        step(f"Installing dependencies using '{shown}'")
        code = run(cmd, env=env or self.env, cwd=self.build_dir)
        if code != 0:
            raise BuildError(
                f"Couldn't install the app's dependencies: '{shown}' failed "
                f"(exit status {code}).\n"
                "\n"
                "See the output above for the reason."
            )

    def install(self, package_manager: str) -> None:
        getattr(self, f"_install_{package_manager}")()

    def refresh(self, package_manager: str, has_local: bool) -> None:
        """After restoring a cached venv: re-run what depends on the app's own source."""
        if package_manager == "uv":
            self._install_uv()  # fast no-op check; re-installs the project if it's a package
        elif package_manager == "project":
            self._run(
                "uv pip install --reinstall --no-deps .",
                self._uv_pip("--reinstall", "--no-deps", "."),
                env=self._fresh_bytecode_env(),
            )
        elif package_manager == "pip" and has_local:
            # requirements reference local paths (e.g. -e .)
            self._install_pip(env=self._fresh_bytecode_env())
        else:
            step("Skipping dependency install: nothing changed since the last build")

    def _fresh_bytecode_env(self) -> dict[str, str]:
        """uv's environment for reinstalling the app's own code over a restored venv.

        uv's uninstall leaves site-packages/__pycache__ in place, so a top-level module's old
        .pyc survives its reinstall; --compile-bytecode then keeps any .pyc whose recorded
        source mtime (whole seconds) and size match, and the reinstalled file's mtime is the
        install time: a rebuild within the same second as the last one shipped the old
        bytecode. Hash-based .pyc are always rewritten by uv and checked against the source
        at import. Only the files this command (re)installs are compiled, so it stays cheap.
        """
        return dict(self.env, PYC_INVALIDATION_MODE="CHECKED_HASH")

    def _install_pip(self, env: dict[str, str] | None = None) -> None:
        self._run(
            "uv pip install -r requirements.txt", self._uv_pip("-r", "requirements.txt"), env=env
        )

    def _install_project(self) -> None:
        self._run("uv pip install .", self._uv_pip("."))

    def _install_locked(self, source: str, requirements: str) -> None:
        """Install requirements converted from a lock file (kept in CACHE_DIR for debugging)."""
        os.makedirs(self.cache_dir, exist_ok=True)
        path = os.path.join(self.cache_dir, f"{source.lower().replace('.', '-')}-requirements.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(requirements)
        self._run(f"uv pip install -r <packages from {source}>", self._uv_pip("-r", path))

    def _install_pipenv(self) -> None:
        data = pipfile_lock.load(os.path.join(self.build_dir, "Pipfile.lock"))
        self._install_locked("Pipfile.lock", pipfile_lock.to_requirements(data, self.build_dir))

    def _install_uv(self) -> None:
        env = dict(self.env, UV_PROJECT_ENVIRONMENT=self.venv)
        # --inexact keeps the packaging tools; a changed lock never reaches here with a stale venv
        # because the cache is discarded first.
        cmd = ["sync", "--locked", "--no-default-groups", "--compile-bytecode", "--inexact"]
        self._run(
            "uv " + " ".join(cmd[:3]),
            [self.uv, *cmd, "--python", self.interpreter],
            env=env,
        )

    def _install_poetry(self) -> None:
        lock = poetry_lock.load_toml(os.path.join(self.build_dir, "poetry.lock"))
        if not poetry_lock.supports_uv(lock):
            self._install_poetry_with_poetry()
            return
        self._install_locked("poetry.lock", poetry_lock.to_requirements(lock, self.build_dir))
        pyproject_path = os.path.join(self.build_dir, "pyproject.toml")
        if os.path.isfile(pyproject_path) and poetry_lock.installs_root_project(
            poetry_lock.load_toml(pyproject_path)
        ):
            self._run("uv pip install --no-deps -e .", self._uv_pip("--no-deps", "-e", "."))

    def _install_poetry_with_poetry(self) -> None:
        """Locks older than 2.1 don't say which group needs what: let Poetry decide."""
        poetry = self._ensure_poetry()
        env = dict(
            self.env,
            POETRY_VIRTUALENVS_CREATE="false",
            POETRY_CACHE_DIR=os.path.join(self.cache_dir, "poetry-cache"),
            POETRY_CONFIG_DIR=os.path.join(self.cache_dir, "poetry-config"),
            POETRY_DATA_DIR=os.path.join(self.cache_dir, "poetry-data"),
        )
        if env.get("SSL_CERT_FILE"):
            env.setdefault("REQUESTS_CA_BUNDLE", env["SSL_CERT_FILE"])
        cmd = ["sync", "--only", "main", "--compile", "--no-ansi", "--no-interaction"]
        self._run("poetry " + " ".join(cmd[:3]), [poetry, *cmd], env=env)

    def _ensure_poetry(self) -> str:
        """Poetry lives in its own venv in CACHE_DIR, reused while its version/Python match."""
        tool_venv = os.path.join(self.cache_dir, "poetry-venv")
        marker = os.path.join(tool_venv, ".cove-poetry")
        wanted = f"{POETRY_VERSION} {self.interpreter}"
        poetry = os.path.join(tool_venv, "bin", "poetry")
        try:
            with open(marker, encoding="utf-8") as fh:
                if fh.read() == wanted and os.path.exists(poetry):
                    return poetry
        except OSError:
            pass
        step(f"Installing Poetry {POETRY_VERSION}")
        tool_python = os.path.join(tool_venv, "bin", "python")
        venv_cmd = [self.uv, "venv", "--quiet", "--relocatable", "--no-project", "--clear"]
        pip_cmd = [self.uv, "pip", "install", "--quiet", "--python", tool_python]
        if (
            run([*venv_cmd, "--python", self.interpreter, tool_venv], env=self.env) != 0
            or run([*pip_cmd, f"poetry=={POETRY_VERSION}"], env=self.env) != 0
        ):
            raise BuildError(f"Couldn't install Poetry {POETRY_VERSION}.")
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(wanted)
        detail(f"Poetry {POETRY_VERSION} installed in the build cache")
        return poetry
