"""Debian packages a test needs (Pebble, Chromium), installed with apt when missing: a
fresh machine has only what `.ci/run` installs, and a test brings what it needs."""

from __future__ import annotations

import os
import shutil
import subprocess


def apt_install(package: str) -> str | None:
    """Install ``package`` with apt-get (as root, or through ``sudo -n``), updating the
    package lists only if the first try fails; None when done, else why not."""
    apt = shutil.which("apt-get")
    if apt is None:
        return f"{package} is not installed and there is no apt-get to install it"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "-qq", package]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run([*sudo, apt, "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return f"{package} can't be installed with apt-get: {done.stderr.strip()[-300:]}"
    return None
