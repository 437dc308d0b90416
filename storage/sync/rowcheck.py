"""Column-at-a-time validation for the object imports (subscriptions, health, targets): every
bad cell becomes a `Problem` naming its row, column and value, and the import is rejected as a
whole when there is any. Parsing itself lives in parsing.py; this only words the complaints."""

from __future__ import annotations

import numpy as np
import pandas as pd

from storage.sync.parsing import clean_text, parse_amounts, parse_datetimes
from storage.sync.problems import Problem, RejectedInput
from storage.sync.readers import Table
from storage.sync.sqlvalues import date_text

NAMED_LIMIT = 200  # problems built with their value; beyond this only the count matters


class RowCheck:
    """The rows of one file, the columns resolved for it, and the problems found so far."""

    def __init__(self, table: Table, columns: dict[str, str], date_format: str | None) -> None:
        self.raw = table.frame
        self.columns = columns
        self.date_format = date_format
        self.rows = pd.Series(np.arange(table.first_row, table.first_row + len(self.raw)), index=self.raw.index)
        self.problems: list[Problem] = []

    def bad(self, field: str, mask: pd.Series, reason: str) -> None:
        if field not in self.columns:  # an absent column has nothing to flag
            return
        column = self.columns[field]
        flagged = mask[mask.fillna(False).astype(bool)].index
        for position, index in enumerate(flagged):
            value = str(self.raw.at[index, column]) if position < NAMED_LIMIT else ""
            self.problems.append(Problem(int(self.rows[index]), column, value, reason))

    def missing(self, reason: str) -> None:
        """A problem with the file as a whole (no column holds something every row needs)."""
        self.problems.append(Problem(None, "-", "", reason))

    def text(self, field: str) -> pd.Series:
        if field not in self.columns:
            return pd.Series(None, index=self.raw.index, dtype=object)
        return clean_text(self.raw[self.columns[field]])

    def required_text(self, field: str, what: str) -> pd.Series:
        values = self.text(field)
        self.bad(field, values.isna(), f"is blank; every {what} needs one")
        return values

    def dates(self, field: str, *, required: bool) -> pd.Series:
        """`YYYY-MM-DD` text per row (None where blank)."""
        if field not in self.columns:
            return pd.Series(None, index=self.raw.index, dtype=object)
        values, unreadable = parse_datetimes(self.raw[self.columns[field]], self.date_format)
        expected = f"in the format {self.date_format}" if self.date_format else "a date like 2026-03-31 or 3/31/2026"
        self.bad(field, unreadable, f"is not {expected}")
        if required:
            self.bad(field, values.isna() & ~unreadable, "is blank; a date is required")
        return date_text(values)

    def money(self, field: str) -> pd.Series:
        values, unreadable = parse_amounts(self.raw[self.columns[field]])
        self.bad(field, unreadable, "is not an amount (expected e.g. 12500, 12,500.00 or $12,500)")
        return values.round(2)

    def numbers(self, field: str, low: float | None, high: float | None, *, whole: bool = False) -> pd.Series:
        """Plain numbers within [low, high] (either bound may be open); blank stays missing."""
        if field not in self.columns:
            return pd.Series(np.nan, index=self.raw.index, dtype="float64")
        text = self.text(field)
        values = pd.to_numeric(text.str.rstrip("%").str.replace(",", "", regex=False), errors="coerce")
        values = values.astype("float64").where(lambda v: np.isfinite(v))
        unreadable = text.notna() & values.isna()
        kind = "a whole number" if whole else "a number"
        self.bad(field, unreadable, f"is not {kind}")
        if whole:
            self.bad(field, values.notna() & (values != values.round()), f"is not {kind}")
        out_of_range = pd.Series(False, index=values.index)
        if low is not None:
            out_of_range |= values < low
        if high is not None:
            out_of_range |= values > high
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        self.bad(field, values.notna() & out_of_range, f"is out of range (must be {bounds})")
        return values

    def currency(self, default: str) -> pd.Series:
        if "currency" not in self.columns:
            return pd.Series(default, index=self.raw.index, dtype=object)
        text = self.text("currency")
        valid = {c: c.upper() for c in text.dropna().unique() if len(c) == 3 and c.isascii() and c.isalpha()}
        codes = text.map(valid).astype(object)
        self.bad("currency", text.notna() & codes.isna(), "is not a currency code")
        return codes.where(text.notna(), default)

    def duplicates(self, keys: pd.DataFrame, field: str, what: str) -> None:
        """Two rows with the same upsert key would make the result depend on row order: reject."""
        repeated = keys.duplicated(keep="first") & keys.notna().all(axis=1)
        if not repeated.any():
            return
        first: dict[tuple, int] = {}
        for key, row in zip(keys.itertuples(index=False, name=None), self.rows, strict=True):
            first.setdefault(key, int(row))
        for index in repeated[repeated].index:
            key = tuple(keys.loc[index])
            self.bad_at(index, field, f"repeats the {what} of row {first[key]}")

    def bad_at(self, index: object, field: str, reason: str) -> None:
        column = self.columns[field]
        self.problems.append(Problem(int(self.rows[index]), column, str(self.raw.at[index, column]), reason))

    def raise_if_any(self, source: str) -> None:
        if self.problems:
            raise RejectedInput(self.problems, source=source)
