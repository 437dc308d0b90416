"""Importing deal exports: presets, parsing, owners/accounts, history, idempotence, --full."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from storage.sync.importer import ImportOptions, import_file
from tests.sync.helpers import FIXTURES, rows, snapshot

SALESFORCE = FIXTURES / "salesforce_opportunities.csv"
HUBSPOT = FIXTURES / "hubspot_deals.csv"
T0 = datetime(2026, 3, 6, 9, 0)
T1 = datetime(2026, 3, 9, 9, 0)


def sf(**kwargs: object) -> ImportOptions:
    return ImportOptions(format="salesforce", **kwargs)  # type: ignore[arg-type]


def edit_csv(source: Path, target: Path, crm_id_column: str, crm_id: str, **changes: str) -> Path:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    for column, value in changes.items():
        frame.loc[frame[crm_id_column] == crm_id, column.replace("_", " ")] = value
    frame.to_csv(target, index=False)
    return target


def test_salesforce_report_columns_are_mapped_and_parsed(engine, config):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    acme = rows(
        engine,
        "SELECT d.name, a.name, u.name, d.amount, d.currency, d.stage, d.probability, d.forecast_category,"
        " d.close_date, d.type, d.source, d.is_closed, d.is_won FROM deals d"
        " JOIN accounts a ON a.id = d.account_id JOIN users u ON u.id = d.owner_id"
        " WHERE d.crm_id = '0065e00000AbC01AAF'",
    )
    name, account, owner, amount, currency, stage, probability, category, close, kind, source, closed, won = acme[0]
    assert (name, account, owner) == ("Acme Corp - Platform renewal", "Acme Corp", "Dana Whitfield")
    assert (float(amount), currency, stage, probability, category) == (120000.0, "USD", "Negotiation", 75.0, "Commit")
    assert str(close)[:10] == "2026-03-31"
    assert (kind, source, bool(closed), bool(won)) == ("renewal", "Existing Customer", False, False)


def test_closed_flags_come_from_the_configured_stage_status(engine, config):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    flags = rows(engine, "SELECT crm_id, is_closed, is_won FROM deals WHERE is_closed = :t ORDER BY crm_id", t=True)
    assert [(c, bool(a), bool(b)) for c, a, b in flags] == [
        ("0065e00000AbC04AAF", True, True),
        ("0065e00000AbC05AAF", True, False),
    ]


def test_missing_owners_and_accounts_are_created_and_reported(engine, config):
    result = import_file(engine, config, SALESFORCE, sf(), now=T0)
    assert result.stats["owners_created"] == 3
    assert result.stats["owners_created_names"] == ["Dana Whitfield", "Marcus Lee", "priya.nair@example.com"]
    assert result.stats["accounts_created"] == 5
    assert rows(engine, "SELECT name, email, role FROM users WHERE email IS NOT NULL") == [
        ("priya.nair@example.com", "priya.nair@example.com", "rep")
    ]


def test_existing_owner_is_matched_by_name_case_insensitively(engine, config):
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (crm_id, name, email, role)"
            " VALUES ('005A1', 'dana whitfield', 'dana@example.com', 'rep')"
        )
    result = import_file(engine, config, SALESFORCE, sf(), now=T0)
    assert result.stats["owners_created_names"] == ["Marcus Lee", "priya.nair@example.com"]
    assert rows(engine, "SELECT COUNT(*) FROM deals d JOIN users u ON u.id = d.owner_id WHERE u.crm_id = '005A1'") == [
        (2,)
    ]


def test_summary_counts_a_first_import(engine, config):
    stats = import_file(engine, config, SALESFORCE, sf(), now=T0).stats
    assert {k: stats[k] for k in ("rows", "inserted", "updated", "unchanged", "removed", "history_rows")} == {
        "rows": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "history_rows": 0,
    }



def test_first_import_beside_deals_without_crm_ids_inserts_every_row_and_leaves_them(engine, config):
    """Deals entered without a CRM id (by hand, a demo) cannot match an export: the import still
    counts as a first one, inserts every row and leaves those deals exactly as they were."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO deals (crm_id, name, amount, currency, stage, created_at, is_closed, is_won)"
                " VALUES (NULL, 'Hand-entered', 1000, 'USD', 'Prospecting', '2026-01-05 00:00:00.000000', FALSE, FALSE)"
            )
        )
    before = rows(engine, "SELECT * FROM deals")
    stats = import_file(engine, config, SALESFORCE, sf(), now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"], stats["history_rows"]) == (5, 0, 0, 0)
    assert rows(engine, "SELECT * FROM deals WHERE crm_id IS NULL") == before
    assert rows(engine, "SELECT count(*) FROM deals WHERE crm_id IS NOT NULL") == [(5,)]


def test_reimporting_an_unchanged_file_changes_nothing(engine, config):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    before = snapshot(engine)
    stats = import_file(engine, config, SALESFORCE, sf(), now=T1).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"], stats["history_rows"]) == (0, 0, 5, 0)
    assert snapshot(engine) == before


def test_stage_change_appends_history_and_moves_stage_entered_at(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    changed = edit_csv(SALESFORCE, tmp_path / "week2.csv", "Opportunity ID", "0065e00000AbC03AAF", Stage="Proposal")
    stats = import_file(engine, config, changed, sf(), now=T1).stats
    assert (stats["updated"], stats["unchanged"], stats["history_rows"]) == (1, 4, 1)
    history = rows(engine, "SELECT field, old_value, new_value, changed_at FROM deal_history")
    assert [(f, o, n, str(at)[:19]) for f, o, n, at in history] == [
        ("stage", "Qualification", "Proposal", "2026-03-09 09:00:00")
    ]
    entered, probability, category = rows(
        engine,
        "SELECT stage_entered_at, probability, forecast_category FROM deals WHERE crm_id = '0065e00000AbC03AAF'",
    )[0]
    assert str(entered)[:19] == "2026-03-09 09:00:00"
    assert (probability, category) == (20.0, "Pipeline")  # the export's own columns still win


def test_amount_close_date_forecast_and_owner_changes_each_get_a_row(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    changed = edit_csv(
        SALESFORCE,
        tmp_path / "week2.csv",
        "Opportunity ID",
        "0065e00000AbC02AAF",
        Amount="38,000.00",
        Close_Date="5/29/2026",
        Forecast_Category="Commit",
        Opportunity_Owner="Marcus Lee",
    )
    import_file(engine, config, changed, sf(), now=T1)
    history = rows(engine, "SELECT field, old_value, new_value FROM deal_history ORDER BY field")
    assert history == [
        ("amount", "45500.00", "38000.00"),
        ("close_date", "2026-04-15", "2026-05-29"),
        ("forecast_category", "Best Case", "Commit"),
        ("owner", "Dana Whitfield", "Marcus Lee"),
    ]


def test_unchanged_stage_keeps_its_entry_time(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    changed = edit_csv(SALESFORCE, tmp_path / "w2.csv", "Opportunity ID", "0065e00000AbC03AAF", Amount="19000")
    import_file(engine, config, changed, sf(), now=T1)
    entered = rows(engine, "SELECT stage_entered_at FROM deals WHERE crm_id = '0065e00000AbC03AAF'")[0][0]
    assert str(entered)[:10] == "2026-02-20"  # created date: the earliest it can have entered the stage


def test_full_export_marks_absent_deals_removed(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame[frame["Opportunity ID"] != "0065e00000AbC05AAF"].to_csv(tmp_path / "full.csv", index=False)
    stats = import_file(engine, config, tmp_path / "full.csv", sf(full=True), now=T1).stats
    assert stats["removed"] == 1
    removed = rows(engine, "SELECT crm_id, removed_at FROM deals WHERE removed_at IS NOT NULL")
    assert [(c, str(at)[:19]) for c, at in removed] == [("0065e00000AbC05AAF", "2026-03-09 09:00:00")]


def test_without_full_absent_deals_stay(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame.head(2).to_csv(tmp_path / "partial.csv", index=False)
    assert import_file(engine, config, tmp_path / "partial.csv", sf(), now=T1).stats["removed"] == 0
    assert rows(engine, "SELECT COUNT(*) FROM deals WHERE removed_at IS NULL") == [(5,)]


def test_removed_deal_that_reappears_is_restored(engine, config, tmp_path):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame.head(4).to_csv(tmp_path / "full.csv", index=False)
    import_file(engine, config, tmp_path / "full.csv", sf(full=True), now=T1)
    stats = import_file(engine, config, SALESFORCE, sf(full=True), now=T1).stats
    assert (stats["updated"], stats["removed"]) == (1, 0)
    assert rows(engine, "SELECT COUNT(*) FROM deals WHERE removed_at IS NULL") == [(5,)]


def test_hubspot_export_with_configured_pipeline_stages(engine, hubspot_config):
    stats = import_file(engine, hubspot_config, HUBSPOT, ImportOptions(format="hubspot"), now=T0).stats
    assert stats["inserted"] == 4
    deal = rows(
        engine,
        "SELECT amount, stage, probability, forecast_category, close_date, stage_entered_at, created_at, crm_url"
        " FROM deals WHERE crm_id = '9876543201'",
    )[0]
    amount, stage, probability, category, close, entered, created, url = deal
    assert (float(amount), stage, probability, category) == (64000.0, "Contract Sent", 90.0, "Commit")
    assert (str(close)[:10], str(entered)[:16], str(created)[:16]) == (
        "2026-04-30",
        "2026-03-01 09:00",
        "2026-01-08 10:15",
    )
    assert url == "https://app.hubspot.com/contacts/4455667/deal/9876543201"


def test_utf8_bom_is_tolerated(engine, hubspot_config):
    import_file(engine, hubspot_config, FIXTURES / "hubspot_deals_bom.csv", ImportOptions(format="hubspot"), now=T0)
    assert rows(engine, "SELECT COUNT(*) FROM deals") == [(4,)]


def test_latin1_file_is_decoded(engine, config):
    import_file(engine, config, FIXTURES / "salesforce_latin1.csv", sf(date_format="%d.%m.%Y"), now=T0)
    deals = rows(
        engine,
        "SELECT d.name, a.name, d.amount, d.close_date FROM deals d JOIN accounts a ON a.id = d.account_id"
        " ORDER BY d.crm_id",
    )
    assert [(n, a, float(m), str(c)[:10]) for n, a, m, c in deals] == [
        ("Müller Maschinenbau - Rahmenvertrag", "Müller Maschinenbau AG", 48500.0, "2026-03-31"),
        ("Société Générale pilote", "Société Générale", 12000.0, "2026-06-30"),
    ]
    assert rows(engine, "SELECT name FROM users ORDER BY name") == [("Françoise Dupré",), ("Jürgen Weiß",)]


def test_xlsx_export_is_accepted(engine, config, tmp_path):
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame.to_excel(tmp_path / "opportunities.xlsx", index=False)
    stats = import_file(engine, config, tmp_path / "opportunities.xlsx", sf(), now=T0).stats
    assert stats["inserted"] == 5
    assert rows(engine, "SELECT SUM(amount) FROM deals") == [(pytest.approx(223400.0),)]


def test_mapping_file_overrides_aliases(engine, config, tmp_path):
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame = frame.rename(columns={"Amount": "ACV (converted)"}).assign(Amount="1")
    frame.to_csv(tmp_path / "custom.csv", index=False)
    (tmp_path / "mapping.toml").write_text('[deals]\namount = "ACV (converted)"\n', encoding="utf-8")
    import_file(engine, config, tmp_path / "custom.csv", sf(mapping=tmp_path / "mapping.toml"), now=T0)
    assert [float(a) for (a,) in rows(engine, "SELECT amount FROM deals WHERE crm_id = '0065e00000AbC01AAF'")] == [
        120000.0
    ]


def test_dry_run_counts_but_writes_nothing(engine, config):
    before = snapshot(engine, [*snapshot(engine).keys(), "sync_runs"])
    result = import_file(engine, config, SALESFORCE, sf(dry_run=True), now=T0)
    assert (result.dry_run, result.stats["inserted"]) == (True, 5)
    assert snapshot(engine, list(before)) == before


def test_each_import_records_a_sync_run(engine, config):
    import_file(engine, config, SALESFORCE, sf(), now=T0)
    ((source, status),) = rows(engine, "SELECT source, status FROM sync_runs")
    assert (source, status) == ("import:salesforce", "success")


def test_bulk_load_path_rebuilds_the_deal_indexes(engine, config, monkeypatch):
    from sqlalchemy import inspect

    from storage.sync import deal_writer

    monkeypatch.setattr(deal_writer, "BULK_ROWS", 1)
    before = sorted(index["name"] for index in inspect(engine).get_indexes("deals"))
    assert import_file(engine, config, SALESFORCE, sf(), now=T0).stats["inserted"] == 5
    assert sorted(index["name"] for index in inspect(engine).get_indexes("deals")) == before
    assert rows(engine, "SELECT COUNT(*) FROM deals WHERE is_closed = :f", f=False) == [(3,)]


def _every_file_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the big-file path (`importer.BIG_FILE_ROWS`) and bulk writes for the fixture's few rows."""
    from storage.sync import deal_writer, importer

    monkeypatch.setattr(importer, "BIG_FILE_ROWS", 1)
    monkeypatch.setattr(deal_writer, "BULK_ROWS", 1)


def test_big_file_on_sqlite_loads_outside_wal_and_puts_wal_back(engine, config, monkeypatch):
    from storage.sync import importer

    if engine.dialect.name != "sqlite":
        pytest.skip("journal modes are SQLite's")
    _every_file_big(monkeypatch)
    modes: list[str] = []
    write_deals = importer.write_deals

    def spy(connection, *args, **kwargs):  # type: ignore[no-untyped-def]
        modes.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
        modes.append(connection.exec_driver_sql("PRAGMA synchronous").scalar())
        return write_deals(connection, *args, **kwargs)

    monkeypatch.setattr(importer, "write_deals", spy)
    assert import_file(engine, config, SALESFORCE, sf(), now=T0).stats["inserted"] == 5
    assert modes == ["delete", 2]  # a rollback journal, and a commit that is on disk when it returns
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    assert rows(engine, "SELECT COUNT(*) FROM deals") == [(5,)]


def test_big_file_stays_in_wal_while_another_connection_has_the_file_open(engine, config, monkeypatch):
    import sqlite3

    from storage.sync import importer

    if engine.dialect.name != "sqlite":
        pytest.skip("journal modes are SQLite's")
    monkeypatch.setattr(importer, "BIG_FILE_ROWS", 1)
    other = sqlite3.connect(engine.url.database)  # the bot, say, reading the same file
    try:
        other.execute("SELECT COUNT(*) FROM deals").fetchall()
        assert import_file(engine, config, SALESFORCE, sf(), now=T0).stats["inserted"] == 5
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert other.execute("SELECT COUNT(*) FROM deals").fetchone() == (5,)
    finally:
        other.close()


def test_a_big_file_that_fails_after_writing_leaves_the_database_as_it_was(engine, config, monkeypatch):
    from storage.sync import importer

    monkeypatch.setattr(importer, "BIG_FILE_ROWS", 1)
    before = snapshot(engine)
    write_deals = importer.write_deals

    def fail_after_writing(*args, **kwargs):  # type: ignore[no-untyped-def]
        write_deals(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "write_deals", fail_after_writing)
    with pytest.raises(RuntimeError):
        import_file(engine, config, SALESFORCE, sf(), now=T0)
    assert snapshot(engine) == before
    if engine.dialect.name == "sqlite":
        assert rows(engine, "PRAGMA journal_mode") == [("wal",)]


def test_a_big_import_loads_without_per_row_foreign_key_checks_and_puts_them_back(engine, config, monkeypatch):
    from storage.sync import deal_writer

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always checks its foreign keys")
    _every_file_big(monkeypatch)
    enforced: list[int] = []
    check_references = deal_writer.check_references

    def spy(connection, frame):  # type: ignore[no-untyped-def]
        enforced.append(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
        check_references(connection, frame)

    monkeypatch.setattr(deal_writer, "check_references", spy)
    assert import_file(engine, config, SALESFORCE, sf(), now=T0).stats["inserted"] == 5
    assert enforced == [0]  # off for the load, so the writer checked the references itself
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert rows(engine, "SELECT COUNT(*) FROM deals WHERE owner_id IS NULL OR account_id IS NULL") == [(0,)]


@pytest.mark.parametrize("column", ["owner_id", "account_id"])
def test_a_big_import_with_a_reference_to_nothing_writes_nothing(engine, config, monkeypatch, column):
    """With SQLite's checks off for the load, a deal pointing to a user or account that does not
    exist (a bug in resolving them, simulated here) must still roll the whole import back."""
    from storage.sync import deal_writer

    _every_file_big(monkeypatch)
    resolver = "resolve_owners" if column == "owner_id" else "resolve_accounts"
    resolve = getattr(deal_writer, resolver)

    def off_by_a_thousand(*args, **kwargs):  # type: ignore[no-untyped-def]
        ids = resolve(*args, **kwargs)
        return ids.where(ids.index != ids.index[-1], ids + 1000)

    monkeypatch.setattr(deal_writer, resolver, off_by_a_thousand)
    before = snapshot(engine, ["deals", "deal_history", "users", "accounts"])
    with pytest.raises(Exception, match="do not exist|FOREIGN KEY|foreign key"):
        import_file(engine, config, SALESFORCE, sf(), now=T0)
    assert snapshot(engine, ["deals", "deal_history", "users", "accounts"]) == before
    assert rows(engine, "SELECT status FROM sync_runs") == [("failed",)]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
