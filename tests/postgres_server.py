"""A PostgreSQL server of the tests' own, outside any COVE_HOME: the operator's server for
add-ons (COVE_POSTGRES_ADMIN_URL) and for the store (COVE_DATABASE_URL). Debian's binaries,
run as the unprivileged service user when the tests run as root (initdb refuses root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cove.addons.postgres import find_bin_dir
from cove.addons.processes import service_user
from cove.ports import free_port


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server with a trust-authenticated superuser ``admin``: its URL (the
    ``postgres`` database)."""
    bin_dir = find_bin_dir()
    base = Path(tempfile.mkdtemp(prefix="operator-postgres-"))
    data, port = base / "data", free_port()
    user = service_user() if os.geteuid() == 0 else None
    as_user = ["runuser", "-u", user, "--"] if user else []
    if user:
        shutil.chown(base, user, user)
    try:
        subprocess.run(
            [*as_user, bin_dir / "initdb", "-D", data, "-U", "admin", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_user,
                bin_dir / "pg_ctl",
                "-D",
                data,
                "-w",
                "-l",
                base / "log",
                "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://admin@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
