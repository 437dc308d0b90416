"""Bulk loading for the demo: column arrays in, rows in the database, fast on SQLite and PostgreSQL.

SQLite gets `executemany` on the raw sqlite3 cursor; PostgreSQL gets `COPY ... FROM STDIN`. Values are
written in the text forms SQLAlchemy itself uses (dates `YYYY-MM-DD`, datetimes
`YYYY-MM-DD HH:MM:SS.ffffff`), so the ORM and SQL string comparisons on SQLite read them back exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table, text

BATCH_ROWS = 100_000
SQLITE_CACHE_KIB = 512 * 1024
REBUILD_INDEXES_FROM = 200_000


def _db_values(values: Any, dialect: str) -> list:
    """One column slice as plain Python values the driver accepts."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind == "M":
            unit = np.datetime_data(values.dtype)[0]
            if unit == "D":
                out = np.datetime_as_string(values, unit="D").astype(object)
            else:
                out = np.char.replace(np.datetime_as_string(values, unit="us"), "T", " ").astype(object)
            out[np.isnat(values)] = None
            return out.tolist()
        if kind == "b" and dialect == "sqlite":
            return values.astype(np.int64).tolist()
        return values.tolist()
    return [v.isoformat() if hasattr(v, "isoformat") else v for v in values]


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: dict[str, Sequence[Any] | np.ndarray],
    *,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    """Insert the rows given column-wise; returns the row count. Runs inside the caller's transaction."""
    names = list(columns)
    total = len(next(iter(columns.values()))) if names else 0
    dialect = connection.dialect.name
    raw = connection.connection.driver_connection
    column_list = ", ".join(f'"{n}"' for n in names)
    if dialect == "sqlite":
        # A big page cache keeps index inserts in memory; the default 2 MB makes them thrash.
        raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    if on_batch:
        on_batch(0, total)
    # Building an index once after a big load is cheaper than updating it row by row.
    rebuild = list(table.indexes) if dialect == "sqlite" and total >= REBUILD_INDEXES_FROM else []
    for index in rebuild:
        index.drop(connection)
    for start in range(0, total, BATCH_ROWS):
        stop = min(start + BATCH_ROWS, total)
        rows = list(zip(*(_db_values(columns[n][start:stop], dialect) for n in names), strict=True))
        if dialect == "sqlite":
            placeholders = ", ".join("?" for _ in names)
            raw.cursor().executemany(f'INSERT INTO "{table.name}" ({column_list}) VALUES ({placeholders})', rows)
        elif dialect == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({column_list}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:  # any other database: portable, slower
            connection.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
        if on_batch:
            on_batch(stop, total)
    for index in rebuild:
        index.create(connection)
    return total


def reset_sequences(connection: Connection, tables: Sequence[Table]) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past the largest id."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )
        )
