"""The fast paths of a deal import give exactly what the plain paths give: the pyarrow CSV
reader versus pandas', and the SQLite tuple pre-comparison versus the column-by-column diff."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from storage.database import make_engine
from storage.migrate import upgrade
from storage.sync import deal_diff, parsing, readers
from storage.sync.arrow_csv import TEXT
from storage.sync.importer import ImportOptions, import_file
from tests.sync.helpers import FIXTURES, snapshot

SALESFORCE = FIXTURES / "salesforce_opportunities.csv"
T0 = datetime(2026, 3, 6, 9, 0)
T1 = datetime(2026, 3, 9, 9, 0)
T2 = datetime(2026, 3, 12, 9, 0)


def edited_export(target: Path, *, reverse: bool = False) -> Path:
    """The fixture with one change of each kind the diff knows, plus a blank created date;
    `reverse` lists the deals in the opposite order to the first import."""
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    frame.loc[0, "Stage"] = "Closed Won"
    frame.loc[1, "Amount"] = "46,000.00"
    frame.loc[2, "Opportunity Owner"] = "Dana Whitfield"
    frame.loc[3, "Close Date"] = "3/15/2026"
    frame.loc[3, "Opportunity Name"] = "  Renamed deal  "
    frame.loc[4, "Created Date"] = ""
    frame = frame.iloc[::-1] if reverse else frame
    frame.to_csv(target, index=False)
    return target


def run_imports(engine, config, edited: Path) -> list[dict]:  # type: ignore[no-untyped-def]
    stats = []
    for source, now in ((SALESFORCE, T0), (edited, T1), (edited, T2)):
        result = import_file(engine, config, source, ImportOptions(format="salesforce", full=True), now=now)
        stats.append({k: v for k, v in result.stats.items() if k != "file"})
    return stats


@pytest.mark.parametrize("disable", ["quick_compare", "quick_compare_reordered", "arrow_csv"])
def test_fast_and_plain_paths_write_the_same_rows(engine, config, tmp_path, monkeypatch, disable):
    if engine.dialect.name != "sqlite":
        pytest.skip("compares two SQLite files; the quick comparison is SQLite-only")
    edited = edited_export(tmp_path / "edited.csv", reverse=disable.endswith("reordered"))
    fast_stats = run_imports(engine, config, edited)
    fast = snapshot(engine)

    if disable.startswith("quick_compare"):
        monkeypatch.setattr(deal_diff, "applies", lambda connection: False)
    else:
        monkeypatch.setattr(readers, "read_csv_arrow", lambda *args: None)
    plain_engine = _fresh_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        plain_stats = run_imports(plain_engine, config, edited)
        plain = snapshot(plain_engine)
    finally:
        plain_engine.dispose()
    assert fast_stats == plain_stats
    assert fast_stats[1]["updated"] == 4 and fast_stats[2]["unchanged"] == fast_stats[2]["rows"]
    assert fast == plain


def _fresh_engine(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    upgrade(engine)
    return engine


@pytest.mark.parametrize(
    "body",
    [
        # UTF-8 in the kept columns, one Windows-1252 byte in a column nobody reads: pandas reads
        # the whole file as Windows-1252, so the fast reader must not answer for it.
        b"Opportunity ID,Opportunity Name,Stage,Next Step\r\n006A,Caf\xc3\xa9 deal,Prospecting,Call \x96 Mon\r\n",
        # Whitespace-only and blank lines, quoted newlines, a BOM.
        b"\xef\xbb\xbfOpportunity ID,Opportunity Name,Stage\n"
        b"006A,\"two\nlines\",Prospecting\n\n   \n006B, x ,Proposal\n",
        # A row wider than the header.
        b"Opportunity ID,Opportunity Name,Stage\n006A,Deal,Prospecting,extra\n",
    ],
)
def test_fast_reader_reads_what_pandas_reads(tmp_path, monkeypatch, body):
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    wanted = ["Opportunity ID", "Opportunity Name", "Stage"]
    fast = _read_or_error(path, wanted)
    monkeypatch.setattr(readers, "read_csv_arrow", lambda *args: None)
    plain = _read_or_error(path, wanted)
    assert fast == plain


def _read_or_error(path: Path, wanted: list[str]) -> object:
    try:
        table = readers.read_table(path, lambda header: [c for c in header if c in wanted])
    except Exception as exc:  # the message is part of what must not change
        return type(exc).__name__, str(exc)
    frame = table.frame
    return table.encoding, list(frame.columns), frame.astype(object).to_numpy().tolist()


@pytest.mark.parametrize(
    ("body", "utf8"),
    [
        (b"abcdefgh" * 4, True),
        (b"abcdef\xc3\xa9gh" * 3, True),  # a two-byte character across a block boundary (blocks of 8)
        (b"abcdefg\xc3\xa9abcdefg", True),  # ... split after its first byte, then an ASCII block
        (b"abcdefghabcdefgh\x96bc", False),  # ASCII blocks, then a Windows-1252 byte
        (b"abcdefg\xc3abcdefgh", False),  # a character cut short, the next block ASCII
        (b"abcdefghabcdefg\xc3", False),  # a character cut short at the end of the file
    ],
)
def test_utf8_check_reads_ascii_blocks_quickly_without_missing_a_bad_byte(tmp_path, monkeypatch, body, utf8):
    from storage.sync import arrow_csv

    monkeypatch.setattr(arrow_csv, "_BLOCK_BYTES", 8)
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    assert arrow_csv._utf8(path) is utf8
    assert utf8 == _decodes(body)


def _decodes(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


STORED_EDITS = [
    # (SQL applied to the stored deals before a re-import of the same file, deals it changes)
    ("UPDATE deals SET stage = 'Proposal' WHERE crm_id = '0065e00000AbC01AAF'", 1),  # another input stage
    ("UPDATE deals SET stage = 'Not A Stage' WHERE crm_id = '0065e00000AbC01AAF'", 1),  # no input stage
    ("UPDATE deals SET currency = lower(currency) WHERE crm_id = '0065e00000AbC01AAF'", 1),  # case counts
    ("UPDATE deals SET forecast_category = NULL WHERE crm_id = '0065e00000AbC01AAF'", 1),
    ("UPDATE deals SET removed_at = '2026-03-01 00:00:00.000000' WHERE crm_id = '0065e00000AbC01AAF'", 1),
    ("UPDATE deals SET is_won = NOT is_won WHERE crm_id = '0065e00000AbC01AAF'", 1),
    ("UPDATE deals SET probability = probability + 1 WHERE crm_id = '0065e00000AbC01AAF'", 1),
    ("UPDATE deals SET is_closed = is_closed * 1.0, probability = CAST(probability AS INTEGER)", 0),  # same numbers
    ("UPDATE deals SET type = CAST(type AS BLOB) WHERE crm_id = '0065e00000AbC01AAF'", 1),  # bytes are not text
]


@pytest.mark.parametrize(("edit", "updated"), STORED_EDITS)
def test_packed_columns_of_the_quick_comparison_find_what_the_plain_diff_finds(
    engine, config, tmp_path, monkeypatch, edit, updated
):
    if engine.dialect.name != "sqlite":
        pytest.skip("the quick comparison is SQLite-only")
    results = []
    for quick in (True, False):
        if not quick:
            monkeypatch.setattr(deal_diff, "applies", lambda connection: False)
        target = engine if quick else _fresh_engine(f"sqlite:///{tmp_path / 'plain.db'}")
        try:
            import_file(target, config, SALESFORCE, ImportOptions(format="salesforce"), now=T0)
            with target.begin() as connection:
                connection.exec_driver_sql(edit)
            stats = import_file(target, config, SALESFORCE, ImportOptions(format="salesforce"), now=T1).stats
            results.append(({k: v for k, v in stats.items() if k != "file"}, snapshot(target)))
        finally:
            if not quick:
                target.dispose()
    assert results[0] == results[1]
    assert results[0][0]["updated"] == updated


AMOUNT_COLUMNS = {
    "plain decimals": ["12345.67", "500", "0.5", "0", "000120", "99999999999999"],
    "thousands separators": ["12,345.67", "1,000", "250,000.00", "1,234,567.89"],
    "integers only": ["1", "22", "333", "4444"],
    "15 characters": ["123456789012345", "1234567890123.5", "9.99999999999999"],
    "16 characters": ["1234567890123456", "12.5"],  # pandas reads the column
    "17 digits": ["0.12345678901234567", "12.5"],
    "signs and zeros": ["-0", "12.5", "+3", "-0.00"],
    "integers and a minus zero": ["-0", "7"],
    "exponents and spaces": ["1e5", "12.5", "1 000", "inf", "nan"],
    "formatted": ["$12,345.50", "USD 1,200", "(1,200.00)", "€1.234,50", "1,2", "12,5000", "abc"],
    "blanks": ["", "12.5", "  ", "7"],
}


@pytest.mark.parametrize("cells", AMOUNT_COLUMNS.values(), ids=AMOUNT_COLUMNS.keys())
@pytest.mark.parametrize("dtype", [TEXT, object], ids=["arrow", "object"])
def test_arrow_number_parsing_gives_pandas_values_bit_for_bit(monkeypatch, cells, dtype):
    """`parsing._numbers` lets Arrow parse columns of plain decimals; the amounts (and the cells
    marked bad) must be what `pd.to_numeric` gives, to the bit (-0.0 and 0.0 differ here)."""
    rng = np.random.default_rng(7)
    extra = [f"{n:,}.{c:02d}" for n, c in zip(rng.integers(0, 10**9, 500), rng.integers(0, 100, 500), strict=True)]
    column = pd.Series(cells + extra + [f"{x:.10g}" for x in rng.random(500) * 1e6], dtype=dtype)
    fast_values, fast_bad = parsing.parse_amounts(column)
    monkeypatch.setattr(parsing, "_numbers", lambda text: pd.to_numeric(text, errors="coerce").astype("float64"))
    plain_values, plain_bad = parsing.parse_amounts(column)
    assert fast_values.to_numpy().tobytes() == plain_values.to_numpy().tobytes()
    assert fast_bad.tolist() == plain_bad.tolist()
