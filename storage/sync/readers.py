"""Reading an export file into a frame of text cells: CSV in any common encoding (BOM tolerated,
comma / semicolon / tab separated) or XLSX. Parsing values is someone else's job (parsing.py);
this module only refuses files that are not tables at all, with a message that says why."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from storage.sync.arrow_csv import read_csv_arrow
from storage.sync.problems import SyncInputError

MAX_FIELD_CHARS = 100_000  # a cell longer than this is a broken export, not a deal name
_SNIFF_BYTES = 64 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
_CSV_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass(frozen=True)
class Table:
    """Every cell as text ("" when blank); `first_row` is the row number of frame index 0."""

    frame: pd.DataFrame
    kind: str  # "csv" or "xlsx"
    encoding: str | None
    first_row: int = 2


Pick = Callable[[list[str]], Sequence[str]]


def read_table(path: str | Path, pick: Pick | None = None) -> Table:
    """Read the file; `pick(header)` chooses the columns to keep (fewer columns, less memory:
    a million-row export is read column by column into Python strings)."""
    file = Path(path)
    if not file.is_file():
        raise SyncInputError(f"{file}: no such file")
    with file.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise SyncInputError(f"{file.name}: the file is empty")
    if head.startswith(_XLSX_MAGIC):
        table = _read_xlsx(file, pick)
    elif head.startswith(_OLE2_MAGIC):
        raise SyncInputError(f"{file.name}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
    else:
        table = _read_csv(file, head, pick)
    if len(table.frame.columns) == 0:
        raise SyncInputError(f"{file.name}: no header row found")
    if table.frame.empty:
        raise SyncInputError(f"{file.name}: the file has a header row but no data rows")
    _check_field_sizes(file.name, table)
    return table


def _read_csv(file: Path, head: bytes, pick: Pick | None) -> Table:
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in head and not utf16:
        raise SyncInputError(f"{file.name}: this is not a CSV or XLSX file (it contains binary data)")
    encodings = ("utf-16",) if utf16 else _CSV_ENCODINGS
    separator = _sniff_separator(head.decode(encodings[0], errors="replace"))
    if not utf16:
        # Fast path for the common case (well-formed UTF-8); anything it is unsure about falls
        # through to pandas below, which owns every error message.
        frame = read_csv_arrow(file, separator, pick)
        if frame is not None:
            return Table(frame=frame, kind="csv", encoding="utf-8-sig")
    for encoding in encodings:
        try:
            usecols = None
            if pick is not None:
                header = pd.read_csv(file, nrows=0, encoding=encoding, sep=separator).columns
                wanted = set(pick([str(c).strip() for c in header]))
                usecols = [c for c in header if str(c).strip() in wanted]
            frame = pd.read_csv(
                file,
                dtype=object,
                na_filter=False,
                encoding=encoding,
                sep=separator,
                usecols=usecols,
                skip_blank_lines=True,
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise SyncInputError(f"{file.name}: the file is empty") from None
        except pd.errors.ParserError as exc:
            raise SyncInputError(f"{file.name}: not a well-formed CSV file ({_first_line(exc)})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return Table(frame=frame, kind="csv", encoding=encoding)
    raise SyncInputError(f"{file.name}: could not decode the text (tried UTF-8, Windows-1252 and Latin-1)")


def _sniff_separator(text: str) -> str:
    header = text.splitlines()[0] if text else ""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_xlsx(file: Path, pick: Pick | None) -> Table:
    try:
        frame = pd.read_excel(file, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise SyncInputError(f"{file.name}: not a readable XLSX workbook ({_first_line(exc)})") from None
    frame = frame.fillna("")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.loc[:, [not c.startswith("Unnamed:") or frame[c].ne("").any() for c in frame.columns]]
    # Spreadsheets often end with formatted-but-empty rows; they are not data.
    frame = frame[frame.ne("").any(axis=1)]
    if pick is not None:
        frame = frame[list(dict.fromkeys(pick(list(frame.columns))))]
    return Table(frame=frame.reset_index(drop=True), kind="xlsx", encoding=None)


def _check_field_sizes(name: str, table: Table) -> None:
    for column in table.frame.columns:
        lengths = table.frame[column].str.len()
        longest = int(lengths.max() or 0)
        if longest > MAX_FIELD_CHARS:
            row = int(lengths.idxmax()) + table.first_row
            raise SyncInputError(
                f"{name}: row {row}, column {column!r} holds {longest:,} characters; "
                f"the limit is {MAX_FIELD_CHARS:,} (is the file a broken export?)"
            )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
