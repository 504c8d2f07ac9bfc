"""The built-in Node.js buildpack's decisions: package manager and lockfile checks, the
install and prune commands, failure messages, the cache, detect/release and .profile.d."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BUILDPACK = Path(__file__).parents[2] / "src/cove/builder/buildpacks/nodejs"
LIB = BUILDPACK / "lib"
MODULES = ("package_json", "package_manager", "install", "cache", "profile_d", "output")


@pytest.fixture
def lib(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The buildpack's modules (its lib/ first on sys.path, as bin/* run them); the Python
    buildpack has modules of the same names, so they are dropped again afterwards."""
    clashing = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    monkeypatch.syspath_prepend(str(LIB))
    yield {name: importlib.import_module(name) for name in MODULES}
    for name in list(sys.modules):
        if str(getattr(sys.modules[name], "__file__", "")).startswith(str(LIB)):
            del sys.modules[name]
    sys.modules.update(clashing)


def app(tmp_path: Path, package: dict[str, object], *files: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "package.json").write_text(json.dumps(package))
    for name in files:
        (tmp_path / name).write_text("")
    return tmp_path


def determine(lib: dict[str, ModuleType], root: Path) -> object:
    return lib["package_manager"].determine(str(root), lib["package_json"].read(str(root)))


def test_the_lockfile_picks_the_package_manager(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    assert determine(lib, app(tmp_path / "a", {}, "package-lock.json")).name == "npm"
    yarn = determine(lib, app(tmp_path / "b", {}, "yarn.lock"))
    assert (yarn.name, yarn.berry, yarn.version) == ("yarn", False, "1.22.x")
    pnpm = determine(lib, app(tmp_path / "c", {"engines": {"pnpm": "9.x"}}, "pnpm-lock.yaml"))
    assert (pnpm.name, pnpm.version, pnpm.lockfile) == ("pnpm", "9.x", "pnpm-lock.yaml")
    bare = determine(lib, app(tmp_path / "d", {}))
    assert (bare.name, bare.lockfile) == ("npm", None)


def test_package_manager_field(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    root = app(tmp_path, {"packageManager": "pnpm@9.15.0+sha512.abc"}, "pnpm-lock.yaml")
    manager = determine(lib, root)
    assert (manager.name, manager.version) == ("pnpm", "9.15.0")


def test_yarn_berry(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    root = tmp_path / "berry"
    root.mkdir()
    (root / "yarn.lock").write_text("__metadata:\n  version: 8\n")
    (root / "package.json").write_text(json.dumps({"packageManager": "yarn@4.5.0"}))
    manager = determine(lib, root)
    assert (manager.name, manager.berry, manager.version) == ("yarn", True, "4.5.0")
    install = lib["install"]
    assert install.install_command(manager) == ["yarn", "install", "--immutable"]
    assert install.prune_command(manager)[:3] == ["yarn", "workspaces", "focus"]
    assert lib["cache"].Cache("/c", str(root), manager).copied_dirs(()) == [".yarn/cache"]

    (root / "package.json").write_text("{}")
    with pytest.raises(lib["output"].BuildError, match="doesn't say which Yarn"):
        determine(lib, root)
    (root / ".yarnrc.yml").write_text("yarnPath: .yarn/releases/yarn-4.5.0.cjs\n")
    with pytest.raises(lib["output"].BuildError, match="which isn't in the repository"):
        determine(lib, root)
    (root / ".yarn/releases").mkdir(parents=True)
    (root / ".yarn/releases/yarn-4.5.0.cjs").write_text("")
    assert determine(lib, root).yarn_path == ".yarn/releases/yarn-4.5.0.cjs"


@pytest.mark.parametrize(
    ("package", "files", "message"),
    [
        ({}, ("package-lock.json", "yarn.lock"), "Multiple lockfiles were found"),
        ({"packageManager": "pnpm@9.1.0"}, ("yarn.lock",), "which is yarn's"),
        ({"packageManager": "pnpm@9.1.0"}, (), "there is no pnpm-lock.yaml"),
        ({"packageManager": "yarn@1.22.22"}, (), "there is no yarn.lock"),
        ({"packageManager": "bun@1.1.0"}, (), "must name npm, yarn or pnpm"),
        ({"packageManager": "pnpm@latest"}, ("pnpm-lock.yaml",), "an exact version"),
    ],
)
def test_lockfile_and_package_manager_errors(
    lib: dict[str, ModuleType],
    tmp_path: Path,
    package: dict[str, object],
    files: tuple[str, ...],
    message: str,
) -> None:
    with pytest.raises(lib["output"].BuildError, match=message):
        determine(lib, app(tmp_path, package, *files))


def test_invalid_package_json(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{ nope")
    with pytest.raises(lib["output"].BuildError, match="Unable to parse package"):
        lib["package_json"].read(str(tmp_path))


def test_install_and_prune_commands(lib: dict[str, ModuleType]) -> None:
    manager = lib["package_manager"].Manager
    install = lib["install"]
    npm = manager("npm", "", "package-lock.json")
    assert install.install_command(npm) == ["npm", "ci", "--include=dev"]
    assert install.install_command(manager("npm", "", None)) == ["npm", "install", "--include=dev"]
    assert install.prune_command(npm) == ["npm", "prune", "--omit=dev"]
    pnpm = manager("pnpm", "9.1.0", "pnpm-lock.yaml")
    assert install.install_command(pnpm) == ["pnpm", "install", "--prod=false", "--frozen-lockfile"]
    yarn = manager("yarn", "1.22.x", "yarn.lock")
    assert "--frozen-lockfile" in install.install_command(yarn)
    assert "--production=true" in install.prune_command(yarn)


def test_pruning_is_skipped_as_heroku_skips_it(lib: dict[str, ModuleType]) -> None:
    manager = lib["package_manager"].Manager
    skipped = lib["install"].prune_skipped
    npm, yarn = manager("npm", "", None), manager("yarn", "", "yarn.lock")
    assert skipped(npm, {"NODE_ENV": "production"}) is None
    assert "NPM_CONFIG_PRODUCTION" in skipped(npm, {"NPM_CONFIG_PRODUCTION": "false"})
    assert "YARN_PRODUCTION" in skipped(yarn, {"YARN_PRODUCTION": "false"})
    assert skipped(npm, {"YARN_PRODUCTION": "false"}) is None
    assert "NODE_ENV" in skipped(npm, {"NODE_ENV": "staging"})


def test_an_out_of_sync_lockfile_is_explained(lib: dict[str, ModuleType]) -> None:
    manager = lib["package_manager"].Manager("pnpm", "9.1.0", "pnpm-lock.yaml")
    command = lib["install"].install_command(manager)
    tail = " ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with frozen-lockfile"
    message = lib["install"].explain_failure(manager, command, 1, tail)
    assert message.startswith("pnpm-lock.yaml is not in sync with package.json.")
    assert "Run `pnpm install`" in message
    other = lib["install"].explain_failure(manager, command, 1, "ECONNRESET")
    assert "exited with status 1" in other


def test_cache_restores_only_what_matches(lib: dict[str, ModuleType], tmp_path: Path) -> None:
    manager = lib["package_manager"].Manager("yarn", "1.22.x", "yarn.lock")
    build, cache_dir = tmp_path / "app", tmp_path / "cache"
    (build / "node_modules" / "dep").mkdir(parents=True)
    cache = lib["cache"].Cache(str(cache_dir), str(build), manager)
    cache.restore("sig-1", True, ())  # nothing cached yet
    cache.save("sig-1", True, ())
    assert (cache_dir / "node" / "dirs" / "node_modules" / "dep").is_dir()
    (build / "node_modules" / "dep").rmdir()
    (build / "node_modules").rmdir()
    cache.restore("sig-1", True, ())
    assert (build / "node_modules" / "dep").is_dir()
    cache.restore("sig-2", True, ())  # another Node.js: started afresh
    assert not (cache_dir / "node" / "dirs").exists()
    assert cache.status("sig-1", False) == "disabled"


def test_detect_and_release(tmp_path: Path) -> None:
    detect = subprocess.run([BUILDPACK / "bin/detect", tmp_path], capture_output=True, text=True)
    assert detect.returncode == 1
    (tmp_path / "package.json").write_text("{}")
    detect = subprocess.run([BUILDPACK / "bin/detect", tmp_path], capture_output=True, text=True)
    assert (detect.returncode, detect.stdout) == (0, "Node.js\n")
    release = subprocess.run([BUILDPACK / "bin/release", tmp_path], capture_output=True, text=True)
    assert "default_process_types:\n  web: npm start\n" in release.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DYNO_RAM": "512"}, "1"),
        ({"DYNO_RAM": "1024"}, "2"),
        ({"DYNO_RAM": "2560"}, "5"),
        ({"DYNO_RAM": "30720"}, "15"),  # over 16 GB: 2048 MB a process
        ({}, "1"),
        ({"DYNO_RAM": "1024", "WEB_CONCURRENCY": "7"}, "7"),
    ],
)
def test_web_concurrency_by_dyno_size(
    lib: dict[str, ModuleType], tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    lib["profile_d"].write_scripts(str(tmp_path))
    script = tmp_path / ".profile.d" / "WEB_CONCURRENCY.sh"
    shell = subprocess.run(
        ["bash", "-c", f'. "{script}"; echo "$WEB_CONCURRENCY"'],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.strip() == expected
    nodejs_sh = (tmp_path / ".profile.d" / "nodejs.sh").read_text()
    assert 'NODE_ENV="${NODE_ENV:-production}"' in nodejs_sh
    assert "$HOME/.heroku/node/bin" in nodejs_sh
