"""Shared fixtures: a clean, migrated database per test.

Without REVBOT_TEST_DATABASE_URL every test gets its own SQLite file (a copy of one migrated
template). With it (PostgreSQL in CI) the schema is migrated once per run and every table is
truncated before each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.config import RevbotConfig
from storage.database import make_engine
from storage.migrate import upgrade
from storage.models import Base
from tests.support.slack_api import SlackApiStandIn

TEST_DATABASE_URL = os.environ.get("REVBOT_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    assert TEST_DATABASE_URL is not None
    engine = make_engine(TEST_DATABASE_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a clean, migrated database for this test."""
    if TEST_DATABASE_URL:
        engine: Engine = request.getfixturevalue("_postgres_engine")
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return TEST_DATABASE_URL
    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "revbot-test.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def config() -> RevbotConfig:
    return RevbotConfig()


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApiStandIn]:
    """The Slack Web API stand-in on loopback, recording every call."""
    standin = await SlackApiStandIn().start()
    yield standin
    await standin.stop()
