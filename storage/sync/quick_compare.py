"""A quick first pass of the deal diff on SQLite: which stored deals are certainly unchanged.

Each stored row arrives from the driver as a tuple; the incoming row is built as the tuple an
UPDATE would write (text, integers, floats, None), with `created_at` / `stage_entered_at` filled
in from the stored row when the input leaves them blank, and the two are compared with `==` in C.
Equal tuples ⇒ the exact comparison (`history.differs`) would find no change either: equal text
is equal text, equal numbers are equal cents, 1 == True. The reverse need not hold, and need not:
any row that differs here for whatever reason (a date stored in another layout, a NaN) goes on to
the exact column-by-column comparison in deal_diff.py. PostgreSQL returns dates as objects, not
the text written, so it always takes the exact path.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from storage.sync.sqlvalues import python_values

_FILLED = ("created_at", "stage_entered_at")  # a blank input keeps the stored value


class _Anything:
    """Equal to any stored value: a blank stage entry time is kept from the stored row (which
    the unchanged stage, compared in the same tuple, makes right)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _AnythingButNone(_Anything):
    """A blank created date keeps the stored one, but a deal stored without one gets the sync
    time, which is a change."""

    def __eq__(self, other: object) -> bool:
        return other is not None


ANYTHING = _Anything()
ANYTHING_BUT_NONE = _AnythingButNone()


class QuickCompare:
    """The incoming rows as tuples of `columns` (crm_id first; SQL expressions with `params`),
    to compare with stored rows fetched with the same columns, chunk by chunk."""

    def __init__(self, frame: pd.DataFrame, compared: list[str], crm_ids: np.ndarray | None = None) -> None:
        """`crm_ids`: the frame's CRM ids as an object array, when the caller already has one."""
        self.columns = ["crm_id"]
        self.params: list[object] = []
        # Matched on it, so equal by construction; the caller's array saves converting it again.
        self.values = [_objects(frame["crm_id"], "crm_id") if crm_ids is None else crm_ids]
        few: list[tuple[str, list[object], np.ndarray]] = []
        for column in compared:
            if column not in _FILLED and (coded := _few_distinct(frame[column], column)) is not None:
                few.append((column, *coded))
                continue
            values = _objects(frame[column], column)
            if column in _FILLED:
                blank = pd.isna(values)
                if column == "stage_entered_at" and blank.all():
                    continue  # every row keeps the stored time: nothing to compare or fetch
                values[blank] = ANYTHING_BUT_NONE if column == "created_at" else ANYTHING
            self.columns.append(column)
            self.values.append(values)
        self._pack(few, len(frame))

    def _pack(self, few: list[tuple[str, list[object], np.ndarray]], rows: int) -> None:
        """Columns with a few distinct incoming values (stage, category, currency, flags ...) are
        compared as one number per row: SQLite gives each stored value the position of the
        incoming value it `IS` (or one past the end), the input the position of its own value,
        and each column's positions are digits of a mixed-radix number. Fewer, smaller Python
        objects per fetched row. `x IS v` ⇒ `x == v` for the driver's value: text against text
        (binary collation) or numbers against numbers, by the column's affinity; NULL IS None."""
        terms: list[str] = []
        packed = np.zeros(rows, dtype=np.int64)
        weight = 1
        for column, distinct, codes in few:
            base = len(distinct) + 1
            if weight * base >= 2**62:
                self._add_packed(terms, packed)
                terms, packed, weight = [], np.zeros(rows, dtype=np.int64), 1
            whens = " ".join(f"WHEN {column} IS ? THEN {i}" for i in range(len(distinct)))
            terms.append(f"(CASE {whens} ELSE {len(distinct)} END) * {weight}")
            self.params.extend(distinct)
            packed += codes * weight
            weight *= base
        if terms:
            self._add_packed(terms, packed)

    def _add_packed(self, terms: list[str], packed: np.ndarray) -> None:
        self.columns.append("(" + " + ".join(terms) + ")")
        self.values.append(packed.astype(object))  # Python ints, as the driver returns them

    def same(self, stored: list[tuple], positions: np.ndarray | slice) -> np.ndarray:
        """For each stored row, whether input row `positions[i]` equals it (`positions` may be a
        slice: the usual re-import lists the deals in stored order, and a slice copies nothing)."""
        incoming = zip(*(values[positions] for values in self.values), strict=True)
        return np.fromiter(map(operator.eq, stored, incoming), dtype=bool, count=len(stored))


def applies(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


_FEW = 64
_TEXT_AFFINITY = frozenset({"name", "currency", "stage", "forecast_category", "type", "source", "crm_url"})
_NUMERIC_AFFINITY = frozenset({"amount", "probability", "is_closed", "is_won", "account_id", "owner_id"})


def _few_distinct(series: pd.Series, column: str) -> tuple[list[object], np.ndarray] | None:
    """A column worth packing: its distinct incoming values as the Python values an UPDATE would
    bind (None for a blank) and each row's position among them, when there are at most `_FEW`
    and they are all None, all text in a text column or all numbers in a numeric one (so
    SQLite's `IS` agrees with Python's `==`); None otherwise."""
    if pd.api.types.is_datetime64_any_dtype(series) or series.iloc[:10_000].nunique(dropna=False) > _FEW:
        return None
    codes, uniques = pd.factorize(series)  # blank → -1
    if len(uniques) + 1 > _FEW:
        return None
    distinct = [None if pd.isna(v) else v for v in np.asarray(uniques, dtype=object).tolist()]
    if (codes < 0).any():
        distinct.append(None)
        codes = np.where(codes < 0, len(distinct) - 1, codes)
    present = [v for v in distinct if v is not None]
    if len(present) != len(set(present)):
        return None  # two uniques Python calls equal (1 and 1.0, say): leave it to the tuples
    if all(type(v) is str for v in present):
        return (distinct, codes.astype(np.int64)) if column in _TEXT_AFFINITY or not present else None
    if all(type(v) in (bool, int, float) for v in present):
        return (distinct, codes.astype(np.int64)) if column in _NUMERIC_AFFINITY else None
    return None


def _objects(series: pd.Series, column: str) -> np.ndarray:
    """The column as the Python values an UPDATE would bind (`sqlvalues.python_values`)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = np.empty(len(series), dtype=object)
        values[:] = python_values(series, column)
        return values
    # Python str / int / float / bool, None for missing; converted in C by the column's own kind
    # (text, integers, floats) rather than by scanning generic objects. Copied, as the array may
    # be the column's own (pandas returns it uncopied when nothing is missing, even with copy=True).
    return series.to_numpy(dtype=object, na_value=None).copy()
