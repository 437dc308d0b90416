"""Owners and accounts that deals point to, by CRM id, email or name; the missing ones are
created (and reported) so a deal export alone is enough to get started."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from storage.sync.sqlvalues import insert_many


@dataclass
class Created:
    owners: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)


def user_key(crm_id: object, label: object) -> str | None:
    """How a reference to a person is looked up: CRM id first, then email, then name."""
    if isinstance(crm_id, str) and crm_id:
        return "id:" + crm_id
    if isinstance(label, str) and label:
        return ("email:" if "@" in label else "name:") + label.casefold()
    return None


def user_keys(users: list[tuple]) -> dict[str, int]:
    """Lookup keys of (id, crm_id, name, email) rows; the first user wins a shared key."""
    keys: dict[str, int] = {}
    for user_id, crm_id, name, email in users:
        if crm_id:
            keys.setdefault("id:" + crm_id, user_id)
        if email:
            keys.setdefault("email:" + email.casefold(), user_id)
        if name:
            keys.setdefault("name:" + name.casefold(), user_id)
    return keys


def user_labels(connection: Connection) -> dict[int, str]:
    """How history names an owner: the CRM id when known, else the name (see docs/sync.md)."""
    return {
        user_id: crm_id or name
        for user_id, crm_id, name in connection.execute(text("SELECT id, crm_id, name FROM users"))
    }


def resolve_owners(connection: Connection, frame: pd.DataFrame, created: Created) -> pd.Series:
    """owner_id per deal row (None where the export names no owner)."""
    crm_ids = frame["owner_crm_id"] if "owner_crm_id" in frame else pd.Series(None, index=frame.index, dtype=object)
    labels = frame["owner"] if "owner" in frame else pd.Series(None, index=frame.index, dtype=object)
    pairs = DistinctPairs(crm_ids, labels)
    stored = _users(connection)  # read again only after inserting, so a re-import reads it once
    keys = user_keys(stored)
    missing: dict[str, tuple[str | None, str, str | None]] = {}
    for crm_id, label in zip(pairs.first, pairs.second, strict=True):
        crm_id = crm_id if isinstance(crm_id, str) else None
        label = label if isinstance(label, str) else None
        key = user_key(crm_id, label)
        if key is None or key in keys or key in missing:
            continue
        # A label-only reference may still match a user we know by id.
        alt = user_key(None, label)
        if crm_id and alt in keys:
            continue
        email = label if label and "@" in label else None
        missing[key] = (crm_id, label or crm_id or "", email.lower() if email else None)
    if missing:
        insert_many(connection, "users", ["crm_id", "name", "email", "role"], [(*v, "rep") for v in missing.values()])
        created.owners.extend(v[1] for v in missing.values())
        stored = _users(connection)
    return pairs.spread(_match(pairs.first, pairs.second, [(r[0], r[1], (r[2], r[3])) for r in stored]))


def account_key(crm_id: object, name: object) -> str | None:
    if isinstance(crm_id, str) and crm_id:
        return "id:" + crm_id
    if isinstance(name, str) and name:
        return "name:" + name.casefold()
    return None


def account_keys(accounts: list[tuple]) -> dict[str, int]:
    """Lookup keys of (id, crm_id, name) rows; the first account wins a shared key."""
    keys: dict[str, int] = {}
    for account_id, crm_id, name in accounts:
        if crm_id:
            keys.setdefault("id:" + crm_id, account_id)
        if name:
            keys.setdefault("name:" + name.casefold(), account_id)
    return keys


def resolve_accounts(
    connection: Connection, frame: pd.DataFrame, owner_ids: pd.Series | None, created: Created
) -> pd.Series:
    """account_id per row; new accounts take the owner of the first deal that names them."""
    crm_ids = frame["account_crm_id"] if "account_crm_id" in frame else pd.Series(None, index=frame.index, dtype=object)
    names = frame["account"] if "account" in frame else pd.Series(None, index=frame.index, dtype=object)
    pairs = DistinctPairs(crm_ids, names)
    owners = [None] * len(pairs.rows)
    if owner_ids is not None:
        owners = owner_ids.to_numpy(dtype="float64", na_value=np.nan)[pairs.rows]
    stored = _accounts(connection)  # as for owners: one read unless accounts are created
    keys = account_keys(stored)
    missing: dict[str, tuple[str | None, str, int | None]] = {}
    for crm_id, name, owner_id in zip(pairs.first, pairs.second, owners, strict=True):
        crm_id = crm_id if isinstance(crm_id, str) else None
        name = name if isinstance(name, str) else None
        key = account_key(crm_id, name)
        if key is None or key in keys or key in missing:
            continue
        owner = None if owner_id is None or owner_id != owner_id else int(owner_id)  # None or NaN (float ids)
        missing[key] = (crm_id, name or crm_id or "", owner)
    if missing:
        insert_many(
            connection,
            "accounts",
            ["crm_id", "name", "owner_id", "is_target_account"],
            [(*v, False) for v in missing.values()],
        )
        created.accounts.extend(v[1] for v in missing.values())
        stored = _accounts(connection)
    return pairs.spread(_match(pairs.first, pairs.second, [(r[0], r[1], (r[2],)) for r in stored]))


def _users(connection: Connection) -> list[tuple]:
    return _driver_rows(connection, "SELECT id, crm_id, name, email FROM users ORDER BY id")


def _accounts(connection: Connection) -> list[tuple]:
    return _driver_rows(connection, "SELECT id, crm_id, name FROM accounts ORDER BY id")


def _driver_rows(connection: Connection, sql: str) -> list[tuple]:
    """Plain driver tuples: tens of thousands of accounts, without SQLAlchemy's per-row work."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


class DistinctPairs:
    """The distinct (CRM id, label) pairs of two columns, in order of first appearance (what
    `drop_duplicates` keeps, in its order; missing cells are equal to each other), with the row
    where each first appears and each row's pair: a million deals name a few hundred owners and
    tens of thousands of accounts, so lookups run once per pair and are spread back to the rows."""

    def __init__(self, first: pd.Series, second: pd.Series) -> None:
        first_codes, _ = pd.factorize(first)  # missing → -1
        second_codes, second_uniques = pd.factorize(second)
        combined = (first_codes.astype(np.int64) + 1) * (len(second_uniques) + 1) + (second_codes + 1)
        self.codes, distinct = pd.factorize(combined)  # numbered in order of first appearance
        self.rows = np.full(len(distinct), len(self.codes))
        np.minimum.at(self.rows, self.codes, np.arange(len(self.codes)))  # first row of each pair
        self.index = first.index
        self.first = first.iloc[self.rows].to_numpy(dtype=object, na_value=None)
        self.second = second.iloc[self.rows].to_numpy(dtype=object, na_value=None)

    def spread(self, per_pair: np.ndarray) -> pd.Series:
        return pd.Series(per_pair[self.codes], index=self.index, dtype="float64")


def _match(crm_ids: np.ndarray, labels: np.ndarray, stored: list[tuple[int, str | None, tuple]]) -> np.ndarray:
    """The id each (CRM id, label) pair refers to, NaN for none, with the same rules as the key
    functions: CRM id, then the label as spelled, then the label case-folded."""
    by_crm: dict[str, int] = {}
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for row_id, crm_id, names in stored:
        if crm_id:
            by_crm.setdefault(crm_id, row_id)
        for name in names:
            if name:
                exact.setdefault(name, row_id)
                folded.setdefault(name.casefold(), row_id)
    found = np.full(len(crm_ids), np.nan)
    for position, (crm_id, label) in enumerate(zip(crm_ids, labels, strict=True)):
        row_id = by_crm.get(crm_id) if isinstance(crm_id, str) else None
        if row_id is None and isinstance(label, str):
            row_id = exact.get(label, folded.get(label.casefold()))
        if row_id is not None:
            found[position] = row_id
    return found
