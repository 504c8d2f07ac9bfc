"""Name resolution inside sandboxes when the host's /etc/resolv.conf links into /run (as
systemd-resolved makes it on Ubuntu): the link's target is bound, so it doesn't dangle."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cove.sandbox.bwrap import _system_mounts, bwrap_path


def test_a_resolv_conf_linked_out_of_etc_reads_the_same_inside(tmp_path: Path) -> None:
    etc, stub = tmp_path / "etc", tmp_path / "run/systemd/resolve/stub-resolv.conf"
    etc.mkdir()
    stub.parent.mkdir(parents=True)
    stub.write_text("nameserver 127.0.0.53\n")
    (etc / "resolv.conf").symlink_to(stub)
    argv = [
        bwrap_path(),
        *_system_mounts(resolv_conf=etc / "resolv.conf"),
        *("--ro-bind", str(etc), "/etc"),  # this fake /etc in place of the host's
        *("--proc", "/proc", "--dev", "/dev", "--unshare-pid"),
        *("--", "/bin/cat", "/etc/resolv.conf"),
    ]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nameserver 127.0.0.53\n"


def test_a_plain_resolv_conf_adds_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "resolv.conf"
    plain.write_text("nameserver 192.0.2.1\n")
    assert _system_mounts(resolv_conf=plain) == _system_mounts(resolv_conf=tmp_path / "none")
    assert str(plain) not in _system_mounts(resolv_conf=plain)
