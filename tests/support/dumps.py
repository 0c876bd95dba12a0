"""Fixtures for dump tests: an isolated pipelines home (lake + DuckDB warehouse) per test."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.framework.config.environments import current_environment
from pipelines.framework.config.settings import get_settings


@dataclass(frozen=True)
class Place:
    """Where a test's dumps land."""

    home: Path

    @property
    def warehouse_path(self) -> Path:
        return current_environment().warehouse_path

    @property
    def lake_url(self) -> str:
        return current_environment().lake_url

    def dataset(self, dataset_id: str) -> str:
        return current_environment().dataset(dataset_id)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture
def place(tmp_path, monkeypatch) -> Iterator[Place]:
    """PIPELINES_HOME in a temporary folder, so each test has its own lake and warehouse."""
    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIPELINES_ENV", "local")
    monkeypatch.delenv("PIPELINES_STORAGE_URL", raising=False)
    monkeypatch.delenv("PIPELINES_WAREHOUSE", raising=False)
    get_settings.cache_clear()
    try:
        yield Place(tmp_path / "home")
    finally:
        get_settings.cache_clear()
