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
    """The incoming rows as tuples of `columns` (crm_id first), to compare with stored rows
    fetched with the same columns, chunk by chunk."""

    def __init__(self, frame: pd.DataFrame, compared: list[str]) -> None:
        self.columns = ["crm_id"]
        self.values = [_objects(frame["crm_id"], "crm_id")]  # matched on it: equal by construction
        for column in compared:
            values = _objects(frame[column], column)
            if column in _FILLED:
                blank = pd.isna(values)
                if column == "stage_entered_at" and blank.all():
                    continue  # every row keeps the stored time: nothing to compare or fetch
                values[blank] = ANYTHING_BUT_NONE if column == "created_at" else ANYTHING
            self.columns.append(column)
            self.values.append(values)

    def same(self, stored: list[tuple], positions: np.ndarray | slice) -> np.ndarray:
        """For each stored row, whether input row `positions[i]` equals it (`positions` may be a
        slice: the usual re-import lists the deals in stored order, and a slice copies nothing)."""
        incoming = zip(*(values[positions] for values in self.values), strict=True)
        return np.fromiter(map(operator.eq, stored, incoming), dtype=bool, count=len(stored))


def applies(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def _objects(series: pd.Series, column: str) -> np.ndarray:
    """The column as the Python values an UPDATE would bind (`sqlvalues.python_values`)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = np.empty(len(series), dtype=object)
        values[:] = python_values(series, column)
        return values
    values = series.to_numpy(dtype=object, copy=True)  # Python str / int / float / bool
    missing = pd.isna(values)
    if missing.any():
        values[missing] = None
    return values
