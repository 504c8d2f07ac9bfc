"""Test-only pause points, for crash-recovery tests.

With ``COVE_TEST_PAUSE=<point>`` (comma-separated for several), `cove server` stops for
good when its work reaches that named point, after creating ``COVE_HOME/paused-<point>``:
an end-to-end test waits for that file and kills the server with SIGKILL exactly there.
Never set it outside tests: the request, build or step that reaches the point never ends.

Points: ``addon-provisioned`` (an add-on's database or server exists, its row is not
complete yet), ``slug-written`` (a build wrote its slug, no release records it yet),
``release-created`` (a deploy's release is live, git has not moved the branch yet: the
dyno swap).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path


def _reached(point: str) -> bool:
    wanted = os.environ.get("COVE_TEST_PAUSE", "")
    if point not in wanted.split(","):
        return False
    home = Path(os.environ.get("COVE_HOME", Path.home() / ".cove")).absolute()
    (home / f"paused-{point}").touch()
    return True


def pause(point: str) -> None:
    """In a thread: block forever at ``point`` if the tests asked for it."""
    if _reached(point):
        threading.Event().wait()


async def pause_async(point: str) -> None:
    """On the event loop: wait forever at ``point`` if the tests asked for it (the rest
    of the server keeps running)."""
    if _reached(point):
        await asyncio.Event().wait()
