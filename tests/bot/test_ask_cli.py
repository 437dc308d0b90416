"""`revbot ask`: the same path as Slack, printed for a terminal or as Block Kit JSON."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.database import session_factory
from storage.models import AuditLog
from storage.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REVBOT_CONFIG", str(tmp_path / "absent.toml"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_ask_prints_the_answer_for_a_terminal(cli_env, org, probe):
    result = CliRunner().invoke(app, ["ask", "/probe", "--as", "dana@acme.test"])
    assert result.exit_code == 0, result.output
    assert "Deals for your deals" in result.output
    assert "Globex Platform Deal: 120,000" in result.output
    assert "Umbrella Rollout" not in result.output


def test_ask_json_is_the_block_kit_slack_would_get(cli_env, org, probe):
    result = CliRunner().invoke(app, ["ask", "/probe team emea", "--as", "mona@acme.test", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["status"] == "answered"
    assert payload["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Deals for emea",
                                                               "emoji": True}}
    assert payload["unfurl_links"] is False


def test_ask_refusals_exit_1_and_are_audited(cli_env, engine, org, probe):
    result = CliRunner().invoke(app, ["ask", "/probe all", "--as", "dana@acme.test"])
    assert result.exit_code == 1
    assert "can't see the whole company's numbers" in result.output
    with session_factory(engine)() as session:
        row = session.scalars(select(AuditLog)).one()
    assert (row.allowed, row.arguments) == (False, "all [cli]")


def test_ask_an_unknown_person_is_told_how_to_get_mapped(cli_env, org, probe):
    result = CliRunner().invoke(app, ["ask", "/probe", "--as", "stranger@acme.test"])
    assert result.exit_code == 1
    assert "stranger@acme.test" in result.output and "revbot.toml" in result.output


def test_ask_without_a_slash_command_is_a_one_line_error(cli_env):
    result = CliRunner().invoke(app, ["ask", "pipeline", "--as", "dana@acme.test"])
    assert result.exit_code == 2
    assert "start with a slash command" in result.output
    assert "Traceback" not in result.output
