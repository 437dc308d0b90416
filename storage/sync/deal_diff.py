"""Comparing incoming deals with stored ones, a chunk of stored rows at a time.

The stored deals are read with one query but fetched `CHUNK` rows at a time, matched to the
incoming rows by CRM id, and compared; only the stored rows that changed are kept (for history
and the UPDATE). So a re-import of a million unchanged deals never holds the million stored rows
next to the million incoming ones, which is what used to push it past 2 GB.

The rules are those of docs/sync.md: `created_at` and `stage_entered_at` are filled in before
the comparison (from the input, else the stored value, else the sync time), and a deal counts as
changed when any written column differs (`history.differs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from storage.sync.history import differs
from storage.sync.quick_compare import QuickCompare, applies
from storage.sync.sqlvalues import stored_text

CHUNK = 100_000
_IDS_PER_QUERY = 500  # well under SQLite's bound-parameter limit
_STORED_TIMES = ("close_date", "created_at", "last_activity_at", "stage_entered_at", "removed_at")


@dataclass
class DealDiff:
    is_new: pd.Series  # per incoming row
    unchanged: int
    updates: pd.DataFrame  # incoming rows that changed, in input order
    old: pd.DataFrame  # their stored values (same index), with `id`


def diff_deals(
    connection: Connection,
    frame: pd.DataFrame,
    columns: list[str],
    select_columns: list[str],
    now_text: str,
) -> DealDiff:
    """Compare `frame` (modified in place: `created_at` / `stage_entered_at` filled in) with the
    stored deals; `select_columns` starts with id, crm_id."""
    diff = _Diff(frame, columns, now_text)
    if not _any_stored(connection):
        # A first import: no stored deal has a CRM id, so every row is new. Skips indexing a
        # million incoming CRM ids (~0.3 s) only to find that nothing matches them.
        return diff.result(select_columns)
    incoming = pd.Index(frame["crm_id"].to_numpy(dtype=object))
    unique = incoming.is_unique
    if unique and applies(connection):
        # SQLite: a cheap tuple comparison settles the unchanged rows (most of a re-import); only
        # the rest are read in full and compared column by column.
        order = _InputOrder(incoming)
        quick = QuickCompare(frame, columns, crm_ids=order.values)
        suspects: list[str] = []
        for rows in _stored_rows(connection, quick.columns, quick.params):
            positions, rows = order.match(rows)
            same = quick.same(rows, positions)
            diff.matched[positions] = True  # a matched row that differs is compared in full below
            diff.unchanged += int(same.sum())
            suspects.extend(rows[i][0] for i in np.flatnonzero(~same))
        chunks = _stored_by_crm_id(connection, select_columns, suspects)
    else:
        chunks = _stored_rows(connection, select_columns, whole=not unique)
    for rows in chunks:
        positions, stored = _match(incoming, _frame(rows, select_columns))
        if len(positions):
            diff.compare(positions, stored)
    return diff.result(select_columns)


class _Diff:
    """The running comparison: which input rows matched a stored deal, how many are unchanged,
    and the stored values of the ones that changed."""

    def __init__(self, frame: pd.DataFrame, columns: list[str], now_text: str) -> None:
        self.frame = frame
        self.columns = columns
        self.now_text = now_text
        self.matched = np.zeros(len(frame), dtype=bool)
        self.incoming_entered = frame["stage_entered_at"].copy()
        self.unchanged = 0
        self.changed_parts: list[pd.DataFrame] = []
        self.changed_positions: list[np.ndarray] = []

    def compare(self, positions: np.ndarray, stored: pd.DataFrame) -> None:
        frame = self.frame
        self.matched[positions] = True
        old = stored.drop(columns="crm_id")
        old.index = frame.index[positions]
        new_created = _fill(frame["created_at"].iloc[positions], old["created_at"], self.now_text)
        frame.iloc[positions, frame.columns.get_loc("created_at")] = new_created.to_numpy(dtype=object)
        entered = self.incoming_entered.iloc[positions]
        stage_changed = differs(old["stage"], frame["stage"].iloc[positions])
        kept = old["stage_entered_at"].where(~stage_changed, self.now_text)
        frame.iloc[positions, frame.columns.get_loc("stage_entered_at")] = entered.where(
            entered.notna(), kept
        ).to_numpy(dtype=object)
        new = frame.iloc[positions]
        changed = np.zeros(len(positions), dtype=bool)
        for column in self.columns:
            changed |= differs(old[column], new[column], money=column == "amount").to_numpy()
        self.unchanged += int((~changed).sum())
        if changed.any():
            self.changed_parts.append(old[changed])
            self.changed_positions.append(positions[changed])

    def result(self, select_columns: list[str]) -> DealDiff:
        frame, matched = self.frame, self.matched
        is_new = pd.Series(~matched, index=frame.index)
        if is_new.any():
            fresh = np.flatnonzero(~matched)
            created = _fill(frame["created_at"].iloc[fresh], None, self.now_text)
            frame.iloc[fresh, frame.columns.get_loc("created_at")] = created.to_numpy(dtype=object)
            entered = self.incoming_entered.iloc[fresh]
            frame.iloc[fresh, frame.columns.get_loc("stage_entered_at")] = entered.where(
                entered.notna(), created
            ).to_numpy(dtype=object)
        if self.changed_parts:
            order = np.argsort(np.concatenate(self.changed_positions), kind="stable")  # back to input order
            old = pd.concat(self.changed_parts).iloc[order]
            updates = frame.loc[old.index]
        else:
            old = pd.DataFrame(columns=[c for c in select_columns if c != "crm_id"], dtype=object)
            updates = frame.iloc[:0]
        return DealDiff(is_new=is_new, unchanged=self.unchanged, updates=updates, old=old)


def _fill(values: pd.Series, stored: pd.Series | None, now_text: str) -> pd.Series:
    values = values.astype(object)
    if stored is not None:
        values = values.where(values.notna(), stored)
    return values.where(values.notna(), now_text)


def _match(incoming: pd.Index, stored: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions in the input of the stored rows that it names, and those stored rows."""
    if incoming.is_unique:
        found = incoming.get_indexer(stored["crm_id"].to_numpy(dtype=object))
        keep = found >= 0
        return found[keep], stored[keep]
    # The input names a deal twice (an API page overlap): each of its rows is compared with the
    # one stored deal, as a reindex would; only then is every stored row needed at once.
    found = pd.Index(stored["crm_id"].to_numpy(dtype=object)).get_indexer(incoming)
    keep = found >= 0
    return np.flatnonzero(keep), stored.iloc[found[keep]]


class _InputOrder:
    """Matches stored rows (crm_id first) to input positions. A re-import usually lists the deals
    in the order they were first inserted, so each chunk is first checked against the next slice
    of the input (one string comparison per row) before falling back to a hash lookup."""

    def __init__(self, incoming: pd.Index) -> None:
        self.incoming = incoming
        self.values = incoming.to_numpy(dtype=object)
        self.next = 0

    def match(self, rows: list[tuple]) -> tuple[np.ndarray | slice, list[tuple]]:
        crm_ids = np.empty(len(rows), dtype=object)
        crm_ids[:] = [row[0] for row in rows]
        start, end = self.next, self.next + len(rows)
        if end <= len(self.values) and bool((self.values[start:end] == crm_ids).all()):
            self.next = end
            return slice(start, end), rows
        found = self.incoming.get_indexer(pd.Index(crm_ids, dtype=object))
        keep = np.flatnonzero(found >= 0)
        if len(keep):
            self.next = int(found[keep[-1]]) + 1
        return found[keep], [rows[i] for i in keep]


def _any_stored(connection: Connection) -> bool:
    return connection.exec_driver_sql("SELECT 1 FROM deals WHERE crm_id IS NOT NULL LIMIT 1").first() is not None


def _stored_rows(  # type: ignore[no-untyped-def]
    connection: Connection, select_columns: list[str], params: list[object] | None = None, *, whole: bool = False
):
    """Stored deals that have a CRM id, as driver tuples, `CHUNK` rows at a time (or all at once)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(select_columns)} FROM deals WHERE crm_id IS NOT NULL", params or ())
        while True:
            fetched = cursor.fetchall() if whole else cursor.fetchmany(CHUNK)
            if not fetched:
                return
            yield fetched
            if whole:
                return
    finally:
        cursor.close()


def _stored_by_crm_id(connection: Connection, select_columns: list[str], crm_ids: list[str]):  # type: ignore[no-untyped-def]
    """The full stored rows of the given CRM ids, about `CHUNK` at a time."""
    cursor = connection.connection.cursor()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    try:
        for start in range(0, len(crm_ids), CHUNK):
            fetched: list[tuple] = []
            part = crm_ids[start : start + CHUNK]
            for batch in range(0, len(part), _IDS_PER_QUERY):
                chosen = part[batch : batch + _IDS_PER_QUERY]
                marks = ", ".join([mark] * len(chosen))
                cursor.execute(f"SELECT {', '.join(select_columns)} FROM deals WHERE crm_id IN ({marks})", chosen)
                fetched.extend(cursor.fetchall())
            if fetched:
                yield fetched
    finally:
        cursor.close()


def _frame(fetched: list[tuple], select_columns: list[str]) -> pd.DataFrame:
    values = list(zip(*fetched, strict=True))
    stored = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in zip(select_columns, values, strict=True)})
    for column in _STORED_TIMES:
        if column in stored:
            stored[column] = stored_text(stored[column], column)
    return stored
