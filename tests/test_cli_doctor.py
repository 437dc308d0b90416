"""`revbot doctor`: one table of checks, exit 1 when any fails, never a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from bot.cli import app
from storage.demo import seed_demo
from storage.freshness import utcnow
from storage.models import Delivery, SyncRun
from storage.settings import get_settings
from tests.support.slack_api import SlackApiStandIn


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # rich reads the width from here; keep each check on one line
    monkeypatch.setenv("REVBOT_CONFIG", str(tmp_path / "revbot.toml"))  # absent: defaults
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def seeded(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    seed_demo(engine, deals=200)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return engine


def _doctor() -> Result:
    get_settings.cache_clear()
    return CliRunner().invoke(app, ["doctor"], terminal_width=200)


def _row(result: Result, check: str) -> str:
    return next(line for line in result.output.splitlines() if check in line)


def test_healthy_install_passes(seeded: Engine) -> None:
    result = _doctor()
    assert result.exit_code == 0, result.output
    for check in ("Configuration", "Database reachable", "Database migrated", "Data freshness"):
        assert " ok " in _row(result, check)
    assert "SLACK_BOT_TOKEN is not set" in _row(result, "Slack token")


def test_invalid_config_fails_with_the_key_and_no_traceback(seeded: Engine, tmp_path: Path) -> None:
    (tmp_path / "revbot.toml").write_text("fiscal_year_start_month = 13\n")
    result = _doctor()
    assert result.exit_code == 1
    assert "FAIL" in _row(result, "Configuration")
    assert "`fiscal_year_start_month`" in result.output and "Traceback" not in result.output


def test_other_verbs_show_config_errors_in_one_line(seeded: Engine, tmp_path: Path) -> None:
    (tmp_path / "revbot.toml").write_text('timezone = "Mars/Olympus"\n')
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "error: revbot.toml: `timezone`: unknown time zone 'Mars/Olympus'" in result.output
    assert "Traceback" not in result.output


def test_unmigrated_database_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = _doctor()
    assert result.exit_code == 1
    assert "revbot db upgrade" in _row(result, "Database migrated")


def test_unreachable_database_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/revbot")
    result = _doctor()
    assert result.exit_code == 1
    assert "FAIL" in _row(result, "Database reachable") and "Traceback" not in result.output


def test_stale_data_fails(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Session(engine) as session, session.begin():
        three_days_ago = utcnow() - timedelta(days=3)
        session.add(SyncRun(source="salesforce", started_at=three_days_ago, finished_at=three_days_ago,
                            status="success"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = _doctor()
    assert result.exit_code == 1
    assert "older than 36 h" in _row(result, "Data freshness")


def test_failed_deliveries_and_syncs_are_reported(seeded: Engine) -> None:
    now = utcnow()
    with Session(seeded) as session, session.begin():
        session.add(Delivery(kind="digest:monday", recipient="C0LEAD", period_key="2026-W47", status="failed",
                             claimed_at=now - timedelta(days=7), error="channel_not_found"))
        session.add(Delivery(kind="digest:monday", recipient="C0LEAD", period_key="2026-W48", status="failed",
                             claimed_at=now, error="not_in_channel"))
        session.add(SyncRun(source="hubspot", started_at=now, status="failed", error="401 Unauthorized"))
    result = _doctor()
    assert result.exit_code == 0, result.output  # history, not a failing check
    assert "2; last error: not_in_channel" in _row(result, "Failed deliveries")
    assert "1; last error: 401 Unauthorized" in _row(result, "Failed sync runs")


async def test_slack_token_checked_with_auth_test(
    seeded: Engine, slack_api: SlackApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-demo")
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    result = await asyncio.to_thread(_doctor)  # doctor runs its own event loop
    assert result.exit_code == 0, result.output
    assert "bot revbot in workspace Test" in _row(result, "Slack token")
    assert [c.token for c in slack_api.calls_to("auth.test")] == ["xoxb-demo"]

    slack_api.fail("auth.test", "invalid_auth")
    result = await asyncio.to_thread(_doctor)
    assert result.exit_code == 1
    assert "invalid_auth" in _row(result, "Slack token")
