"""A dyno can write its app directory, as on Heroku (logs/, a SQLite file, .gunicorn at
start), and the writes stay its own: other dynos of the app and its release command don't
see them, a restart starts afresh, the slug on the host is never changed, and nothing
outside /app and /tmp becomes writable. With overlays (as root, and as an ordinary user),
and with the full copy Cove falls back to where bwrap can't do overlays."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_unprivileged import NOBODY, unprivileged  # noqa: F401 (a fixture)


def _answers(
    server: CoveServer, app: str, names: set[str], newer_than: dict[str, str]
) -> dict[str, Any]:
    """What each of the dynos ``names`` answers (the router spreads requests over them),
    once each has booted again since the boot tokens in ``newer_than``."""
    answers: dict[str, Any] = {}

    def all_answered() -> bool:
        response = server.get(app)
        if response.status_code != 200:  # (`ps:restart` stops every dyno at once: a 503)
            return False
        body = response.json()
        if body["boot"] != newer_than.get(body["dyno"]):
            answers[body["dyno"]] = body
        return names <= answers.keys()

    wait_for(all_answered, 90, what=f"answers from {sorted(names)}")
    return answers


def _owns_only_its_own_writes(body: dict[str, Any]) -> None:
    dyno, boot = body["dyno"], body["boot"]
    assert body["app_owner"] == body["uid"] != 0  # /app is the app user's, as on Heroku
    assert body["gunicorn_dir"]
    assert body["logs"] == [f"{dyno}.log"]  # no other dyno's, no release command's
    assert body["log"] == boot  # written at this start, not a previous one's
    assert body["boots"] == [[dyno, boot]]


def _slug_snapshot(server: CoveServer) -> dict[str, tuple[int, int]]:
    """Every unpacked slug's files on the host: path -> (mode, owner)."""
    found: dict[str, tuple[int, int]] = {}
    for slug in (server.home / "slugs").iterdir():
        if slug.is_dir():
            for path in [slug, *slug.rglob("*")]:
                info = path.lstat()
                found[str(path)] = (info.st_mode, info.st_uid)
    return found


def check_app_dir(server: CoveServer, user: User, app: str) -> dict[str, dict[str, Any]]:
    repo = user.new_repo("app-dir", app)
    user.cove("apps:create", app, cwd=repo)
    push = user.push(repo).stderr
    assert "release wrote /app/logs" in push  # the release command could write too
    assert "Verifying deploy... done." in push
    slug = _slug_snapshot(server)
    assert not [p for p in slug if Path(p).name in ("logs", "data.sqlite3", ".gunicorn")]

    first = _answers(server, app, {"web.1"}, {})["web.1"]
    _owns_only_its_own_writes(first)

    # A second dyno of the app starts from the slug, without the first one's files.
    user.cove("ps:scale", "web=2", cwd=repo)
    both = _answers(server, app, {"web.1", "web.2"}, {"web.2": ""})
    assert both["web.1"]["boot"] == first["boot"]
    _owns_only_its_own_writes(both["web.2"])

    # A restart starts afresh: the files written before are gone.
    user.cove("ps:restart", cwd=repo)
    tokens = {name: body["boot"] for name, body in both.items()}
    restarted = _answers(server, app, {"web.1", "web.2"}, tokens)
    for body in restarted.values():
        _owns_only_its_own_writes(body)

    # Nothing else became writable, and the slug on the host is as the build left it.
    for path in ("/cove-probe", "/etc/cove-probe", "/usr/cove-probe", "/root/cove-probe"):
        assert server.get(app, "/write", params={"path": path}).json()["ok"] is False, path
    assert server.get(app, "/write", params={"path": "/tmp/cove-probe"}).json()["ok"] is True
    assert _slug_snapshot(server) == slug
    return restarted  # what web.1 and web.2 answer now


def test_dyno_writes_its_app_dir_and_keeps_the_writes_to_itself(
    user: User, server: CoveServer
) -> None:
    check_app_dir(server, user, "app-dir")


def test_root_steps_of_a_dyno_never_see_its_config_vars(user: User, server: CoveServer) -> None:
    """The steps of a dyno's start that run as root (giving /app to the app's user,
    dropping to it) never get the app's environment: LD_DEBUG_OUTPUT makes the loader
    write one file per process it starts, owned by that process's user. (Before, setpriv
    ran as root with config vars such as LD_PRELOAD: the app's code with every
    capability.)"""
    now = check_app_dir(server, user, "app-dir-env")
    repo = user.home / "app-dir-env"
    user.cove("config:set", "LD_DEBUG=files", "LD_DEBUG_OUTPUT=/tmp/ld", cwd=repo)
    # Both dynos must have restarted with the new config: the router may send the
    # request below to either, and each has its own /tmp.
    tokens = {name: body["boot"] for name, body in now.items()}
    _answers(server, "app-dir-env", set(tokens), tokens)
    owners = server.get("app-dir-env", "/owners", params={"dir": "/tmp"}).json()
    loader_files = {name: uid for name, uid in owners.items() if name.startswith("ld.")}
    assert loader_files and set(loader_files.values()) == {now["web.1"]["uid"]}


def test_app_dir_as_an_ordinary_user(unprivileged: tuple[CoveServer, User]) -> None:  # noqa: F811
    server, user = unprivileged
    assert check_app_dir(server, user, "app-dir-nobody")["web.1"]["uid"] == NOBODY


@pytest.fixture(scope="module")
def without_overlays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """A server whose bwrap refuses overlays (bubblewrap before 0.9, or a kernel that
    doesn't allow them): each dyno then gets a full copy of its slug."""
    from cove.sandbox import bwrap_path

    root = tmp_path_factory.mktemp("no-overlays")
    wrapper = root / "bwrap"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do [ "$arg" = --tmp-overlay ] && '
        '{ echo "bwrap: Unknown option --tmp-overlay" >&2; exit 1; }; done\n'
        f'exec {bwrap_path()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    with running_server(root, COVE_BWRAP=str(wrapper)) as server:
        yield server


def test_app_dir_with_a_full_copy_where_overlays_are_missing(
    without_overlays: CoveServer, tmp_path: Path
) -> None:
    server = without_overlays
    assert "ephemeral /app per dyno" not in server.log_path.read_text()
    user = User.logged_in(tmp_path / "home", server)
    check_app_dir(server, user, "app-dir-copy")
    # The copies are the dynos' own and go with them.
    dynos_dir = server.home / "dynos"
    user.cove("ps:scale", "web=0", "-a", "app-dir-copy")
    wait_for(lambda: not any(dynos_dir.iterdir()), 60, what="the dynos' copies to go")
