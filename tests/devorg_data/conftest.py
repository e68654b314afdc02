"""Fixtures for the devorg data-layer tests: a fresh store with a fixed clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sfbulk_mcp.devorg.store import Store

NOW = dt.datetime(2026, 11, 18, 15, 30, 0, tzinfo=dt.UTC)  # a Wednesday


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "org.db", clock=lambda: NOW)
    yield s
    s.close()
