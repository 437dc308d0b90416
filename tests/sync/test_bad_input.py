"""Every bad input rejects the whole file with a message naming row, column and value, and the
database is provably unchanged (every data table compared before and after)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from storage.sync.importer import ImportOptions, import_file
from storage.sync.problems import RejectedInput, SyncInputError
from tests.sync.helpers import FIXTURES, rows, snapshot

SALESFORCE = FIXTURES / "salesforce_opportunities.csv"
T0 = datetime(2026, 3, 6, 9, 0)
SF = ImportOptions(format="salesforce")


@pytest.fixture
def loaded(engine, config):
    """A database that already holds the good export, so "unchanged" means something."""
    import_file(engine, config, SALESFORCE, SF, now=T0)
    return engine


def export(tmp_path: Path, edit=None, name: str = "bad.csv") -> Path:  # type: ignore[no-untyped-def]
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    if edit:
        frame = edit(frame)
    frame.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def rejected(engine, config, path: Path) -> str:  # type: ignore[no-untyped-def]
    before = snapshot(engine)
    with pytest.raises(SyncInputError) as info:
        import_file(engine, config, path, SF, now=T0)
    assert snapshot(engine) == before
    assert rows(engine, "SELECT status FROM sync_runs ORDER BY id")[-1] == ("failed",)
    return str(info.value)


def test_missing_required_column(loaded, config, tmp_path):
    path = export(tmp_path, lambda f: f.drop(columns=["Stage"]))
    message = rejected(loaded, config, path)
    assert "required column for stage is missing" in message
    assert "'Stage'" in message


def test_bad_date_names_row_column_and_value(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[2, "Close Date"] = "31/31/2026"
        return frame

    message = rejected(loaded, config, export(tmp_path, edit))
    assert "row 4, column 'Close Date': '31/31/2026' is not a date" in message


def test_bad_number_names_row_column_and_value(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[0, "Amount"] = "twelve thousand"
        return frame

    message = rejected(loaded, config, export(tmp_path, edit))
    assert "row 2, column 'Amount': 'twelve thousand' is not an amount" in message


def test_duplicate_ids_are_named_with_the_first_occurrence(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[3, "Opportunity ID"] = "0065e00000AbC01AAF"
        return frame

    message = rejected(loaded, config, export(tmp_path, edit))
    assert "row 5, column 'Opportunity ID': '0065e00000AbC01AAF' appears more than once (first at row 2)" in message


def test_unknown_stages_are_listed(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[0, "Stage"] = "Verbal Commit"
        frame.loc[1, "Stage"] = "Id. Decision Makers"
        return frame

    message = rejected(loaded, config, export(tmp_path, edit))
    assert "stages not in the configured stage list: 'Id. Decision Makers', 'Verbal Commit'" in message
    assert "row 2, column 'Stage': 'Verbal Commit' is not a configured stage" in message


def test_many_bad_rows_show_twenty_then_a_count(loaded, config, tmp_path):
    frame = pd.read_csv(SALESFORCE, dtype=str, keep_default_na=False)
    many = pd.concat([frame.iloc[[0]]] * 30, ignore_index=True)
    many["Opportunity ID"] = [f"0065e00000ZZZ{i:02d}AAF" for i in range(30)]
    many["Amount"] = "n/a"
    many.to_csv(tmp_path / "many.csv", index=False)
    message = rejected(loaded, config, tmp_path / "many.csv")
    assert message.count("is not an amount") == 20
    assert "30 invalid values" in message
    assert message.rstrip().endswith("... and 10 more")


def test_empty_file(loaded, config, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert "the file is empty" in rejected(loaded, config, tmp_path / "empty.csv")


def test_header_only_file(loaded, config, tmp_path):
    header = SALESFORCE.read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "header.csv").write_text(header + "\n", encoding="utf-8")
    assert "no data rows" in rejected(loaded, config, tmp_path / "header.csv")


def test_binary_file(loaded, config, tmp_path):
    (tmp_path / "export.csv").write_bytes(bytes(range(256)) * 64)
    assert "not a CSV or XLSX file" in rejected(loaded, config, tmp_path / "export.csv")


def test_ten_megabyte_field_is_rejected(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[1, "Opportunity Name"] = "x" * (10 * 1024 * 1024)
        return frame

    message = rejected(loaded, config, export(tmp_path, edit))
    assert "row 3, column 'Opportunity Name' holds 10,485,760 characters; the limit is 100,000" in message


def test_rejection_is_a_rejected_input_with_every_problem(loaded, config, tmp_path):
    def edit(frame):  # type: ignore[no-untyped-def]
        frame.loc[0, "Amount"] = "abc"
        frame.loc[1, "Close Date"] = "soon"
        return frame

    with pytest.raises(RejectedInput) as info:
        import_file(loaded, config, export(tmp_path, edit), SF, now=T0)
    assert [(p.row, p.column, p.value) for p in info.value.problems] == [
        (2, "Amount", "abc"),
        (3, "Close Date", "soon"),
    ]


def test_unknown_format_is_a_one_line_error(loaded, config):
    with pytest.raises(SyncInputError, match="unknown format 'pipedrive'"):
        import_file(loaded, config, SALESFORCE, ImportOptions(format="pipedrive"), now=T0)
