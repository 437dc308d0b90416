"""Writing a canonical deal frame: resolve owners/accounts, diff against stored deals (one
query), then bulk INSERT / UPDATE / history with executemany. Runs inside the caller's
transaction, so a failure anywhere leaves the database as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from storage.models import HISTORY_FIELDS, Deal
from storage.sync.deal_diff import diff_deals
from storage.sync.deals import DealFrame
from storage.sync.history import history_rows
from storage.sync.references import Created, resolve_accounts, resolve_owners, user_labels
from storage.sync.sqlvalues import (
    date_text,
    datetime_text,
    insert_frame,
    update_frame_rows,
    update_many,
)

Progress = Callable[[str, int, int], None]  # (phase, advance, total)

DEAL_COLUMNS = (
    "name",
    "account_id",
    "owner_id",
    "amount",
    "currency",
    "stage",
    "probability",
    "forecast_category",
    "close_date",
    "created_at",
    "last_activity_at",
    "stage_entered_at",
    "type",
    "source",
    "is_closed",
    "is_won",
    "crm_url",
    "removed_at",
)
ALWAYS_WRITTEN = frozenset(
    {"name", "stage", "probability", "forecast_category", "is_closed", "is_won", "removed_at", "stage_entered_at"}
)
_COLUMN_FOR_FIELD = {
    "account": "account_id",
    "account_crm_id": "account_id",
    "owner": "owner_id",
    "owner_crm_id": "owner_id",
}


@dataclass
class DealCounts:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    history_rows: int = 0
    created: Created = field(default_factory=Created)

    def as_stats(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "history_rows": self.history_rows,
            "owners_created": len(self.created.owners),
            "accounts_created": len(self.created.accounts),
            "owners_created_names": self.created.owners[:20],
            "accounts_created_names": self.created.accounts[:20],
        }


def written_columns(present: frozenset[str]) -> list[str]:
    """Columns an update may change: those the input carried, plus the ones derived from stage."""
    carried = {_COLUMN_FOR_FIELD.get(f, f) for f in present}
    return [c for c in DEAL_COLUMNS if c in carried or c in ALWAYS_WRITTEN]


def write_deals(
    connection: Connection,
    deals: DealFrame,
    *,
    now: datetime,
    full: bool = False,
    progress: Progress | None = None,
    history_fields: tuple[str, ...] = HISTORY_FIELDS,
) -> DealCounts:
    counts = DealCounts(rows=len(deals.frame))
    frame = deals.frame  # owned by this call from here on: columns are replaced in place
    report = progress or (lambda phase, advance, total: None)
    owner_ids = None
    if {"owner", "owner_crm_id"} & deals.present:
        owner_ids = resolve_owners(connection, frame, counts.created)
        frame["owner_id"] = owner_ids.astype("Int64")
    if {"account", "account_crm_id"} & deals.present:
        frame["account_id"] = resolve_accounts(connection, frame, owner_ids, counts.created).astype("Int64")
    now_text = datetime_text(pd.Series([now]))[0]
    for column in ("created_at", "last_activity_at", "stage_entered_at"):
        frame[column] = datetime_text(frame[column]) if column in frame else None
    frame["close_date"] = date_text(frame["close_date"]) if "close_date" in frame else None
    frame["removed_at"] = None
    for column in DEAL_COLUMNS:
        if column not in frame:
            frame[column] = None

    columns = written_columns(deals.present)
    diff = diff_deals(connection, frame, columns, _select_columns(columns), now_text)
    is_new = diff.is_new
    counts.inserted = int(is_new.sum())
    counts.updated = len(diff.updates)
    counts.unchanged = diff.unchanged

    history = _history(connection, diff.updates, diff.old, history_fields, deals.present, now_text)
    counts.history_rows = len(history)

    total = counts.inserted + counts.updated

    def advance(n: int) -> None:
        report("writing", n, total)

    insert_columns = ["crm_id", *DEAL_COLUMNS]
    with bulk_load(connection, counts.inserted):
        new_rows = frame if counts.inserted == len(frame) else frame[is_new]  # no copy of a first import
        insert_frame(connection, "deals", new_rows, insert_columns, on_chunk=advance)
    update_frame = diff.updates.assign(id=diff.old["id"].astype("int64"))
    update_frame_rows(connection, "deals", update_frame, columns, on_chunk=advance)
    insert_frame(connection, "deal_history", history, list(history.columns))
    check_references(connection, frame)
    if full:
        counts.removed = _mark_removed(connection, set(frame["crm_id"]), now_text)
    return counts


BULK_ROWS = 50_000
SQLITE_BULK_CACHE_KIB = 262_144  # 256 MiB page cache while a big load inserts
SQLITE_SORT_CACHE_KIB = 4_096  # 4 MiB while it rebuilds the indexes: also the sorter's run size


@contextmanager
def bulk_load(connection: Connection, rows: int) -> Iterator[None]:
    """For a big insert into SQLite: drop the secondary deal indexes and rebuild them after
    (sorting once beats updating six B-trees a row at a time), with a bigger page cache for the
    insert. Inside the caller's transaction, so a failure restores them with everything else.

    The rebuild runs with a small cache on purpose: SQLite sizes each in-memory run of its
    external sort by `cache_size`, and sorting a million-record linked list in one 256 MiB run is
    bound by cache misses (40% of the rebuild's CPU in `perf`), where 4 MiB runs sort inside the
    CPU cache and are then merged in sequential passes: 13-14 s CPU for the six indexes at 1M rows
    instead of 15-19 s (docs/benchmarks.md, 2026-11-26 session 4)."""
    if rows < BULK_ROWS or connection.dialect.name != "sqlite":
        yield
        return
    indexes = list(Deal.__table__.indexes)
    previous_cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        for index in indexes:
            index.drop(connection)
        yield
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_SORT_CACHE_KIB}")
        for index in indexes:
            index.create(connection)
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous_cache)}")


class BrokenReference(RuntimeError):
    """A deal would point to an owner or account that is not stored: a bug, never bad input."""


def check_references(connection: Connection, frame: pd.DataFrame) -> None:
    """When SQLite is not enforcing foreign keys (a big import turns them off for the load), check
    what enforcement would have: every owner and account id the deals now carry is a stored user
    or account. The ids were resolved from those tables in this transaction, so this is a proof,
    not a filter: raising rolls the whole import back. It reads two id columns (tens of thousands
    of accounts) instead of looking up two parents for each of a million inserted rows. The other
    references an import writes follow from these: a new account's owner is the owner of a deal
    that names it, and `deal_history` points at deals read in this transaction (none deleted)."""
    if connection.dialect.name != "sqlite" or connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        return
    for column, table in (("owner_id", "users"), ("account_id", "accounts")):
        if column not in frame:
            continue
        referenced = pd.unique(frame[column].dropna().to_numpy(dtype="int64"))
        stored = [row[0] for row in connection.exec_driver_sql(f"SELECT id FROM {table}")]
        unknown = referenced[~np.isin(referenced, np.asarray(stored, dtype="int64"))]
        if len(unknown):
            shown = unknown[:5].tolist()
            raise BrokenReference(f"deals.{column} would point to {table} ids that do not exist: {shown}")


def _select_columns(columns: list[str]) -> list[str]:
    """What the diff reads of each stored deal: only the columns it compares or fills in from."""
    needed = ["owner_id", "stage", "created_at", "stage_entered_at", *columns]
    return ["id", "crm_id", *dict.fromkeys(c for c in DEAL_COLUMNS if c in needed)]


def _history(
    connection: Connection,
    new: pd.DataFrame,
    old: pd.DataFrame,
    fields: tuple[str, ...],
    present: frozenset[str],
    now_text: str,
) -> pd.DataFrame:
    if new.empty:
        return history_rows(new.get("crm_id", pd.Series(dtype=object)), {}, {}, {})
    has_owner = bool({"owner", "owner_crm_id"} & present)
    wanted = [f for f in fields if f in present or (f == "owner" and has_owner)]
    old_values = {f: old[f] for f in wanted if f != "owner"}
    new_values = {f: new[f] for f in wanted if f != "owner"}
    if "owner" in wanted:
        labels = user_labels(connection)
        old_values["owner"] = old["owner_id"].map(labels)
        new_values["owner"] = new["owner_id"].astype(object).map(labels)
    now_series = pd.Series(now_text, index=new.index)
    changed_at = {f: now_series for f in wanted}
    changed_at["stage"] = new["stage_entered_at"].where(new["stage_entered_at"].notna(), now_text)
    return history_rows(old["id"].astype("int64"), old_values, new_values, changed_at, tuple(wanted))


def _mark_removed(connection: Connection, seen: set[str], now_text: str) -> int:
    stored = connection.exec_driver_sql(
        "SELECT id, crm_id FROM deals WHERE crm_id IS NOT NULL AND removed_at IS NULL"
    ).fetchall()
    gone = [(now_text, deal_id) for deal_id, crm_id in stored if crm_id not in seen]
    update_many(connection, "deals", ["removed_at"], gone)
    return len(gone)
