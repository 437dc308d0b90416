"""`revbot import --object health`: customer health snapshots upserted on (account, date)."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage.sync.importer import ImportOptions, import_file
from storage.sync.problems import RejectedInput
from tests.sync.helpers import FIXTURES, rows, snapshot

T0 = datetime(2026, 3, 9, 9, 0)
OPTIONS = ImportOptions("generic", "health")


def stored(engine):
    found = rows(
        engine,
        "SELECT a.name, h.date, h.health_score, h.usage, h.open_tickets, h.nps FROM customer_health h"
        " JOIN accounts a ON a.id = h.account_id ORDER BY a.name, h.date",
    )
    return [(a, str(d)[:10], s, u, t, n) for a, d, s, u, t, n in found]


def test_health_file_is_stored_and_accounts_created(engine, config):
    stats = import_file(engine, config, FIXTURES / "health.csv", OPTIONS, now=T0).stats
    assert (stats["rows"], stats["inserted"], stats["accounts_created"]) == (3, 3, 2)
    assert stored(engine) == [
        ("Acme Corp", "2026-03-01", 82.5, 0.91, 2, 45),
        ("Acme Corp", "2026-03-08", 78.0, 0.88, 3, None),
        ("Globex Corporation", "2026-03-01", 41.0, 0.35, 7, -20),
    ]
    assert rows(engine, "SELECT source, status FROM sync_runs") == [("import:generic", "success")]


def test_reimporting_the_same_health_file_changes_nothing(engine, config):
    import_file(engine, config, FIXTURES / "health.csv", OPTIONS, now=T0)
    before = snapshot(engine)
    stats = import_file(engine, config, FIXTURES / "health.csv", OPTIONS, now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"]) == (0, 0, 3)
    assert snapshot(engine) == before


def test_health_rows_match_existing_accounts_by_name_regardless_of_case(engine, config, tmp_path):
    import_file(engine, config, FIXTURES / "health.csv", OPTIONS, now=T0)
    (tmp_path / "later.csv").write_text("account_name,date,health_score\nACME CORP,2026-03-08,70\n")
    stats = import_file(engine, config, tmp_path / "later.csv", OPTIONS, now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["accounts_created"]) == (0, 1, 0)
    assert stored(engine)[1] == ("Acme Corp", "2026-03-08", 70.0, None, None, None)


def test_out_of_range_values_reject_the_file_and_leave_the_database_unchanged(engine, config):
    import_file(engine, config, FIXTURES / "health.csv", OPTIONS, now=T0)
    before = snapshot(engine)
    with pytest.raises(RejectedInput) as rejected:
        import_file(engine, config, FIXTURES / "health_bad.csv", OPTIONS, now=T0)
    assert snapshot(engine) == before
    assert [(p.row, p.column, p.value, p.reason) for p in rejected.value.problems] == [
        (3, "health_score", "120", "is out of range (must be between 0 and 100)"),
        (3, "open_tickets", "-1", "is out of range (must be at least 0)"),
        (4, "nps", "-150", "is out of range (must be between -100 and 100)"),
        (4, "open_tickets", "2.5", "is not a whole number"),
    ]


def test_many_bad_rows_are_listed_twenty_then_counted(engine, config, tmp_path):
    lines = ["account_name,date,nps"] + [f"Account {n},2026-03-01,{200 + n}" for n in range(25)]
    (tmp_path / "many.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RejectedInput) as rejected:
        import_file(engine, config, tmp_path / "many.csv", OPTIONS, now=T0)
    message = str(rejected.value)
    assert "25 invalid values" in message
    assert "row 21, column 'nps': '219'" in message and "row 22," not in message
    assert message.endswith("... and 5 more")
    assert rows(engine, "SELECT count(*) FROM accounts") == [(0,)]
