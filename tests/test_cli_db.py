"""`revbot db upgrade` builds the schema in an empty database (SQLite file, or PostgreSQL in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from bot.cli import app
from storage.database import make_engine
from storage.migrate import is_up_to_date
from storage.models import Base
from storage.settings import get_settings


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(database_url)
    with engine.begin() as connection:  # the conftest migrates PostgreSQL once per run; start from nothing
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return database_url


def test_db_upgrade_on_an_empty_database(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["db", "upgrade"])
        second = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "upgraded from empty to 0002" in " ".join(first.output.split())  # rich wraps long URLs
    assert "up to date" in " ".join(second.output.split())
    engine = make_engine(empty_database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert is_up_to_date(engine)
    engine.dispose()


def test_db_upgrade_accepts_heroku_style_urls() -> None:
    from storage.settings import normalize_database_url

    assert normalize_database_url("postgres://u:p@host:5432/db") == "postgresql+psycopg://u:p@host:5432/db"
