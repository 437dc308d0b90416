"""Upsert by a natural key for tables without a CRM id (subscriptions, customer_health, targets):
one SELECT of the stored rows, then each incoming row is an insert, an update or unchanged.
Comparing first is what makes re-importing the same file change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from storage.sync.sqlvalues import insert_many, update_many

_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T][\d:.]+)?")

Progress = Callable[[str, int, int], None]


def canonical(value: Any) -> Any:
    """One comparable form for what either database returns or a frame holds: dates as
    `YYYY-MM-DD`, numbers as floats rounded to cents (Numeric comes back as Decimal on
    PostgreSQL), integral floats as ints, blanks as None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value[:10] if _DATE_TEXT.fullmatch(value) else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if number != number:  # NaN from a frame
            return None
        number = round(number, 2)
        return int(number) if number.is_integer() else number
    return value


def upsert_keyed(
    connection: Connection,
    table: str,
    key_columns: Sequence[str],
    value_columns: Sequence[str],
    incoming: list[tuple[Any, ...]],
    progress: Progress,
) -> dict[str, int]:
    """`incoming` rows are key values then value values, already unique by key (the caller
    rejects repeats). Returns inserted / updated / unchanged counts."""
    columns = [*key_columns, *value_columns]
    width = len(key_columns)
    stored: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for row in connection.execute(text(f"SELECT id, {', '.join(columns)} FROM {table}")):
        values = tuple(canonical(v) for v in row[1:])
        stored[values[:width]] = (row[0], values[width:])
    inserts, updates, unchanged = [], [], 0
    for row in incoming:
        key = tuple(canonical(v) for v in row[:width])
        match = stored.get(key)
        if match is None:
            inserts.append(row)
        elif match[1] != tuple(canonical(v) for v in row[width:]):
            updates.append((*row[width:], match[0]))
        else:
            unchanged += 1
    progress("writing", 0, len(incoming))
    progress("writing", unchanged, len(incoming))
    insert_many(connection, table, columns, inserts, on_chunk=lambda n: progress("writing", n, len(incoming)))
    update_many(connection, table, value_columns, updates, on_chunk=lambda n: progress("writing", n, len(incoming)))
    return {"rows": len(incoming), "inserted": len(inserts), "updated": len(updates), "unchanged": unchanged}
