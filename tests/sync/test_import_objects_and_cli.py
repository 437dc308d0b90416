"""Account and user files, and the `revbot import` / `revbot sync` command lines."""

from __future__ import annotations

from datetime import datetime

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.sync.importer import ImportOptions, import_file
from storage.sync.problems import SyncInputError
from tests.sync.helpers import FIXTURES, rows

T0 = datetime(2026, 3, 6, 9, 0)


def test_account_export_creates_accounts_with_owners_and_target_flags(engine, config, tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "Account ID,Account Name,Account Owner,Industry,Billing Country,Target Account\n"
        "0015e000002AAAA,Acme Corp,Dana Whitfield,Manufacturing,US,Yes\n"
        "0015e000002BBBB,Globex Corporation,Marcus Lee,Energy,DE,No\n",
        encoding="utf-8",
    )
    stats = import_file(
        engine, config, tmp_path / "accounts.csv", ImportOptions("salesforce", "accounts"), now=T0
    ).stats
    assert (stats["inserted"], stats["owners_created"]) == (2, 2)
    found = rows(engine, "SELECT a.name, u.name, a.industry, a.region, a.is_target_account FROM accounts a"
                         " JOIN users u ON u.id = a.owner_id ORDER BY a.name")  # fmt: skip
    assert [(a, o, i, r, bool(t)) for a, o, i, r, t in found] == [
        ("Acme Corp", "Dana Whitfield", "Manufacturing", "US", True),
        ("Globex Corporation", "Marcus Lee", "Energy", "DE", False),
    ]


def test_user_export_upserts_by_email(engine, config, tmp_path):
    (tmp_path / "users.csv").write_text(
        "User ID,Full Name,Email\n005A1,Dana Whitfield,Dana@Example.com\n005A2,Marcus Lee,marcus@example.com\n",
        encoding="utf-8",
    )
    import_file(engine, config, tmp_path / "users.csv", ImportOptions("salesforce", "users"), now=T0)
    stats = import_file(engine, config, tmp_path / "users.csv", ImportOptions("salesforce", "users"), now=T0).stats
    assert (stats["inserted"], stats["updated"]) == (0, 0)
    assert rows(engine, "SELECT crm_id, email FROM users ORDER BY crm_id") == [
        ("005A1", "dana@example.com"),
        ("005A2", "marcus@example.com"),
    ]


def test_target_file_without_period_dates_is_refused_clearly(engine, config):
    with pytest.raises(SyncInputError, match="target files need period start and end date columns"):
        import_file(engine, config, FIXTURES / "salesforce_opportunities.csv", ImportOptions("generic", "targets"))


def test_cli_import_prints_summary(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REVBOT_CONFIG", "/nonexistent/revbot.toml")
    from storage.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["import", str(FIXTURES / "salesforce_opportunities.csv"), "--format",
                                      "salesforce"])  # fmt: skip
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "inserted" in result.output and "Dana Whitfield" in result.output


def test_cli_import_rejection_is_one_message_without_traceback(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REVBOT_CONFIG", "/nonexistent/revbot.toml")
    from storage.settings import get_settings

    get_settings.cache_clear()
    (tmp_path / "empty.csv").write_bytes(b"")
    result = CliRunner().invoke(app, ["import", str(tmp_path / "empty.csv"), "--format", "salesforce"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "the file is empty" in result.output
    assert "Traceback" not in result.output


def test_cli_sync_without_credentials_names_the_variables(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REVBOT_CONFIG", "/nonexistent/revbot.toml")
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    from storage.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["sync", "hubspot"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "HUBSPOT_ACCESS_TOKEN" in result.output
