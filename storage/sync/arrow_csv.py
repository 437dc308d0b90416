"""The fast way to read a big, well-formed UTF-8 CSV export: pyarrow's multi-threaded reader,
every cell kept as text in an Arrow-backed string column (no Python object per cell).

It only ever answers for files it reads exactly as pandas would (same header of two or more
columns, every row the header's width, the whole file valid UTF-8; a one-column file is left to
pandas, which skips whitespace-only lines); for anything else it returns None and the caller's pandas path
reads the file and words the error. So the fast path changes speed, never results or messages.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

Pick = Callable[[list[str]], Sequence[str]]
try:  # pandas' own "str" dtype (NaN for missing), on Arrow memory
    TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
except TypeError:  # pandas < 2.3 spells it differently
    TEXT = pd.StringDtype("pyarrow_numpy")
_BLOCK_BYTES = 4 << 20


def read_csv_arrow(file: Path, separator: str, pick: Pick | None) -> pd.DataFrame | None:
    """The chosen columns as text ("" when blank), or None when pandas should read the file."""
    read_options = pacsv.ReadOptions(block_size=_BLOCK_BYTES, encoding="utf8")
    parse_options = pacsv.ParseOptions(delimiter=separator, newlines_in_values=True)
    try:
        header = _header(file, read_options, parse_options)
        if header is None or len(header) < 2 or not _utf8(file):
            return None
        wanted = set(pick([name.strip() for name in header])) if pick is not None else None
        keep = [name for name in header if wanted is None or name.strip() in wanted]
        convert = pacsv.ConvertOptions(
            include_columns=keep,
            column_types={name: pa.large_string() for name in keep},  # what pandas keeps: no cast
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        table = pacsv.read_csv(file, read_options=read_options, parse_options=parse_options, convert_options=convert)
    except (ValueError, OSError, pa.ArrowException):  # ValueError covers pandas and decode errors
        return None  # malformed, ragged or not UTF-8: pandas decides what to say
    if table.num_rows == 0:
        return None
    frame = table.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _utf8(file: Path) -> bool:
    """Whether the whole file is UTF-8. Arrow checks only the columns it keeps, but pandas decodes
    every byte, and one stray Windows-1252 byte anywhere makes it read the file as Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with file.open("rb") as handle:
        try:
            while block := handle.read(_BLOCK_BYTES):
                # An ASCII block between whole characters is UTF-8 as it stands; checking that
                # is far cheaper than decoding it (most exports are ASCII but for a few names).
                if not (block.isascii() and not decoder.getstate()[0]):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _header(file: Path, read_options: pacsv.ReadOptions, parse_options: pacsv.ParseOptions) -> list[str] | None:
    """The header as pandas reads it; None when pandas would rename columns (blank or repeated
    labels become "Unnamed: 3" / "Stage.1"), so the two readers could disagree on names."""
    names = pd.read_csv(file, nrows=0, encoding="utf-8-sig", sep=parse_options.delimiter, dtype=object).columns
    header = [str(name) for name in names]
    with pacsv.open_csv(file, read_options=read_options, parse_options=parse_options) as reader:
        arrow_names = list(reader.schema.names)
    if arrow_names != header or len(set(header)) != len(header) or any(not n.strip() for n in header):
        return None
    return header
