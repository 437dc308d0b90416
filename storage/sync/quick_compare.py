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


class QuickCompare:
    """The incoming rows in the shape of `select_columns` (id and crm_id aside), ready to
    compare with stored rows chunk by chunk."""

    def __init__(self, frame: pd.DataFrame, columns: list[str], select_columns: list[str]) -> None:
        self.select_columns = select_columns
        compared = set(columns)
        # Columns read only to fill others in (not compared) take the stored value as they are.
        self.values: list[np.ndarray | None] = [
            _objects(frame[c], c) if c in compared else None for c in select_columns[2:]
        ]

    def same(self, stored: list[tuple], positions: np.ndarray) -> np.ndarray:
        """For each stored row (`id, crm_id, ...`), whether input row `positions[i]` equals it."""
        by_column = list(zip(*stored, strict=True))
        new_columns: list[object] = [by_column[0], by_column[1]]
        for offset, (column, values) in enumerate(zip(self.select_columns[2:], self.values, strict=True)):
            old = by_column[offset + 2]
            if values is None:
                new_columns.append(old)
                continue
            new = values[positions]
            if column in _FILLED:
                blank = pd.isna(new)
                if blank.any():
                    new = np.where(blank, np.asarray(old, dtype=object), new)
            new_columns.append(new)
        incoming = zip(*new_columns, strict=True)
        return np.fromiter(map(operator.eq, stored, incoming), dtype=bool, count=len(stored))


def applies(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def _objects(series: pd.Series, column: str) -> np.ndarray:
    values = np.empty(len(series), dtype=object)
    values[:] = python_values(series, column)
    return values
