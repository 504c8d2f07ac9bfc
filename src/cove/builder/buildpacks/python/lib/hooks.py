"""Run the app's optional bin/pre_compile and bin/post_compile hooks."""

from __future__ import annotations

import os
import stat

from output import BuildError, run, step


def run_hook(name: str, build_dir: str, env: dict[str, str]) -> None:
    path = os.path.join(build_dir, "bin", name)
    if not os.path.isfile(path):
        return
    step(f"Running {name.replace('_', '-')} hook")
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    with open(path, "rb") as fh:
        has_shebang = fh.read(2) == b"#!"
    # A script without a shebang can't be exec'd: run it with bash, as a shell would.
    code = run([path] if has_shebang else ["bash", path], env=env, cwd=build_dir)
    if code != 0:
        raise BuildError(f"Failed to run the {name} hook: bin/{name} exited with status {code}.")
