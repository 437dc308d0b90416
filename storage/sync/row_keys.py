"""A quick first pass of the deal diff on SQLite: which stored deals are certainly unchanged.

Comparing a million stored deals column by column means fetching ~17 Python objects per row.
Instead SQLite renders each stored row's compared text/integer columns as one self-delimiting key
(`text5:Acme…integer3:412null…`: type, length, value — no two different rows can share a key),
the same key is built for the incoming rows with Arrow, and only amount, probability and the two
filled-in times are fetched separately. Equal key and values ⇒ the exact comparison would find no
change too (equal text is equal text; equal integers are equal; equal floats are equal cents). The
reverse need not hold, and need not: any row that differs here, for whatever reason (a float stored
as text, a NUL in a name), goes on to the exact column-by-column comparison in deal_diff.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

CHUNK = 100_000
_NUMBERS = ("amount", "probability")
_FILLED_TIMES = ("created_at", "stage_entered_at")  # filled in from the stored row when blank


def split_unchanged(
    connection: Connection, frame: pd.DataFrame, columns: list[str], incoming: pd.Index
) -> tuple[np.ndarray, np.ndarray] | None:
    """(input positions of every stored deal the input names, ids of those that may have
    changed), or None when this pass does not apply (not SQLite, or unusual column types)."""
    if connection.dialect.name != "sqlite" or "stage" not in columns:
        return None
    key_columns = [c for c in columns if c not in _NUMBERS and c not in _FILLED_TIMES]
    new_keys = _incoming_keys(frame, key_columns)
    if new_keys is None:
        return None
    numbers = [c for c in _NUMBERS if c in columns]
    times = [c for c in _FILLED_TIMES if c in columns]
    key_sql = " || ".join(f"ifnull(typeof({c}) || length({c}) || ':' || {c}, 'null')" for c in key_columns)
    sql = f"SELECT id, crm_id, {key_sql}, {', '.join(['0', *numbers, *times])} FROM deals WHERE crm_id IS NOT NULL"
    all_positions: list[np.ndarray] = []
    suspects: list[np.ndarray] = []
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CHUNK):
            ids, crm_ids, keys, _, *rest = zip(*rows, strict=True)
            found = incoming.get_indexer(pd.Index(crm_ids, dtype=object))
            keep = found >= 0
            positions = found[keep]
            stored = dict(zip([*numbers, *times], (np.asarray(v, dtype=object)[keep] for v in rest), strict=True))
            same = _same(pa.array(keys, type=pa.string()).filter(keep), new_keys.take(positions))
            for column in numbers:
                same &= _same_number(stored[column], frame[column].to_numpy()[positions])
            for column in times:
                same &= _same_time(stored[column], frame[column].to_numpy(dtype=object)[positions], column)
            all_positions.append(positions)
            suspects.append(np.asarray(ids, dtype=np.int64)[keep][~same])
    finally:
        cursor.close()
    if not all_positions:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(all_positions), np.concatenate(suspects)


def _incoming_keys(frame: pd.DataFrame, key_columns: list[str]) -> pa.Array | None:
    parts = []
    for column in key_columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
            kind, text = "integer", pc.cast(pa.array(values.to_numpy(dtype=np.int8)), pa.string())
        elif pd.api.types.is_integer_dtype(values.dtype):
            kind, text = "integer", pc.cast(pa.array(values, from_pandas=True), pa.string())
        elif values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            try:
                text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                return None  # not all text: leave this input to the exact comparison
            kind = "text"
        else:
            return None
        length = pc.cast(pc.utf8_length(text), pa.string())
        part = pc.binary_join_element_wise(kind, length, ":", text, "")  # null where the value is
        parts.append(pc.fill_null(part, "null"))
    return pc.binary_join_element_wise(*parts, "")


def _same(stored: pa.Array, new: pa.Array) -> np.ndarray:
    return pc.equal(stored, new).to_numpy(zero_copy_only=False).astype(bool)


def _same_number(stored: np.ndarray, new: np.ndarray) -> np.ndarray:
    old = pd.to_numeric(pd.Series(stored, dtype=object), errors="coerce").to_numpy(dtype="float64")
    text = np.array([v is not None and not isinstance(v, int | float) for v in stored], dtype=bool)
    new = np.asarray(new, dtype="float64")
    return ~text & ((old == new) | (np.isnan(old) & np.isnan(new)))


def _same_time(stored: np.ndarray, new: np.ndarray, column: str) -> np.ndarray:
    """created_at: a blank input keeps the stored time (if any); stage_entered_at: a blank input
    keeps the stored one (the stage is unchanged, as the key says)."""
    new_blank = pd.isna(new)
    stored_blank = pd.isna(stored)
    equal = np.array([isinstance(a, str) and a == b for a, b in zip(stored, new, strict=True)], dtype=bool)
    if column == "created_at":
        return equal | (new_blank & ~stored_blank)
    return equal | new_blank
