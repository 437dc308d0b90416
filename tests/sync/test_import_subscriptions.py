"""`revbot import --object subscriptions`: billing exports upserted on (account, product, start date)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from storage.sync.importer import ImportOptions, import_file
from storage.sync.problems import RejectedInput
from tests.sync.helpers import FIXTURES, rows, snapshot

T0 = datetime(2026, 3, 6, 9, 0)
OPTIONS = ImportOptions("salesforce", "subscriptions")


def stored(engine):
    found = rows(
        engine,
        "SELECT a.name, s.product, s.mrr, s.currency, s.start_date, s.end_date, s.status FROM subscriptions s"
        " JOIN accounts a ON a.id = s.account_id ORDER BY a.name, s.start_date, s.product",
    )
    return [(a, p, float(m), c, str(s)[:10], e and str(e)[:10], st) for a, p, m, c, s, e, st in found]


def test_subscription_export_is_stored_with_parsed_money_dates_and_statuses(engine, config):
    stats = import_file(engine, config, FIXTURES / "subscriptions.csv", OPTIONS, now=T0).stats
    assert (stats["rows"], stats["inserted"], stats["updated"], stats["unchanged"]) == (4, 4, 0, 0)
    assert sorted(stats["accounts_created_names"]) == ["Acme Corp", "Globex Corporation"]
    assert stored(engine) == [
        ("Acme Corp", "Platform", 4500.0, "USD", "2026-01-01", "2026-12-31", "active"),
        ("Acme Corp", "Analytics add-on", 750.0, "USD", "2026-03-01", None, "active"),
        ("Globex Corporation", "Platform", 1000.0, "EUR", "2025-01-01", "2025-02-15", "superseded"),
        ("Globex Corporation", "Platform", 1200.5, "EUR", "2025-02-15", "2026-02-15", "canceled"),
    ]
    assert rows(engine, "SELECT crm_id FROM accounts WHERE name = 'Acme Corp'") == [("0015e000002AAAA",)]


def test_reimporting_the_same_subscriptions_changes_nothing(engine, config):
    import_file(engine, config, FIXTURES / "subscriptions.csv", OPTIONS, now=T0)
    before = snapshot(engine)
    stats = import_file(engine, config, FIXTURES / "subscriptions.csv", OPTIONS, now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"], stats["accounts_created"]) == (0, 0, 4, 0)
    assert snapshot(engine) == before


def test_a_changed_mrr_updates_the_row_with_the_same_key(engine, config, tmp_path):
    import_file(engine, config, FIXTURES / "subscriptions.csv", OPTIONS, now=T0)
    changed = (FIXTURES / "subscriptions.csv").read_text().replace('"$4,500.00"', '"$4,800.00"')
    (tmp_path / "subscriptions.csv").write_text(changed)
    stats = import_file(engine, config, tmp_path / "subscriptions.csv", OPTIONS, now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"]) == (0, 1, 3)
    assert stored(engine)[0][2] == 4800.0


def test_bad_subscription_rows_reject_the_file_and_leave_the_database_unchanged(engine, config):
    import_file(engine, config, FIXTURES / "subscriptions.csv", OPTIONS, now=T0)
    before = snapshot(engine)
    with pytest.raises(RejectedInput) as rejected:
        import_file(engine, config, FIXTURES / "subscriptions_bad.csv", OPTIONS)
    assert snapshot(engine) == before
    assert [(p.row, p.column, p.value) for p in rejected.value.problems] == [
        (3, "MRR", "lots"),
        (4, "Start Date", "2026-02-30"),
        (4, "Status", "paused"),
    ]
    assert "nothing was written: 3 invalid values" in str(rejected.value)
    with engine.connect() as connection:
        status = connection.execute(text("SELECT status FROM sync_runs ORDER BY id DESC LIMIT 1")).scalar()
    assert status == "failed"


def test_two_rows_with_the_same_key_are_rejected(engine, config, tmp_path):
    (tmp_path / "subs.csv").write_text(
        "account,product,mrr,start_date\nAcme Corp,Platform,100,2026-01-01\nacme corp,Platform,200,2026-01-01\n"
    )
    with pytest.raises(RejectedInput, match="row 3, column 'product': 'Platform' repeats the account, product"):
        import_file(engine, config, tmp_path / "subs.csv", ImportOptions("generic", "subscriptions"))
    assert rows(engine, "SELECT count(*) FROM accounts") == [(0,)]


def test_dry_run_counts_but_writes_nothing(engine, config):
    before = snapshot(engine)
    result = import_file(
        engine, config, FIXTURES / "subscriptions.csv", ImportOptions("salesforce", "subscriptions", dry_run=True)
    )
    assert result.stats["inserted"] == 4
    assert snapshot(engine) == before
    assert rows(engine, "SELECT count(*) FROM sync_runs") == [(0,)]
