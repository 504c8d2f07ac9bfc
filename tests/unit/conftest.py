from __future__ import annotations

from pathlib import Path

import pytest

from cove.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A migrated, empty store (SQLite in the test's directory)."""
    s = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    s.migrate()
    return s
