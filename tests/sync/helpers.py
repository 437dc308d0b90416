"""Shared test helpers: fixture paths, table snapshots for "database unchanged" checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from storage.models import Base

FIXTURES = Path(__file__).parent / "fixtures"
DATA_TABLES = [t.name for t in Base.metadata.sorted_tables if t.name != "sync_runs"]


def snapshot(engine: Engine, tables: list[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, sorted, so two snapshots compare equal iff nothing changed."""
    with engine.connect() as connection:
        return {
            table: sorted(tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id")))
            for table in tables or DATA_TABLES
        }


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]
