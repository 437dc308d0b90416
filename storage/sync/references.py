"""Owners and accounts that deals point to, by CRM id, email or name; the missing ones are
created (and reported) so a deal export alone is enough to get started."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, text

from storage.sync.parsing import map_distinct
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
    pairs = pd.DataFrame({"crm_id": crm_ids, "label": labels}).drop_duplicates()
    stored = _users(connection)  # read again only after inserting, so a re-import reads it once
    keys = user_keys(stored)
    missing: dict[str, tuple[str | None, str, str | None]] = {}
    for crm_id, label in pairs.itertuples(index=False):
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
    return _match(crm_ids, labels, [(r[0], r[1], (r[2], r[3])) for r in stored])


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
    owners = owner_ids.astype("float64") if owner_ids is not None else pd.Series(None, index=frame.index, dtype=object)
    refs = pd.DataFrame({"crm_id": crm_ids, "name": names, "owner_id": owners}).drop_duplicates(["crm_id", "name"])
    stored = _accounts(connection)  # as for owners: one read unless accounts are created
    keys = account_keys(stored)
    missing: dict[str, tuple[str | None, str, int | None]] = {}
    for crm_id, name, owner_id in zip(*(refs[c].to_numpy(dtype=object) for c in refs.columns), strict=True):
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
    return _match(crm_ids, names, [(r[0], r[1], (r[2],)) for r in stored])


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


def _match(crm_ids: pd.Series, labels: pd.Series, stored: list[tuple[int, str | None, tuple]]) -> pd.Series:
    """Vectorised lookup with the same rules as the key functions: CRM id, then the label as
    spelled, then the label case-folded. Whole-column dict lookups; only misses are case-folded."""
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
    by_id = map_distinct(crm_ids, by_crm.get).astype("float64")
    by_label = map_distinct(labels, lambda label: exact.get(label, folded.get(label.casefold()))).astype("float64")
    return by_id.where(by_id.notna(), by_label)
