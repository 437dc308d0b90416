"""Users and accounts from CRM APIs, upserted by CRM id (falling back to email for people and
name for accounts, so records first seen in a file import get their CRM id attached)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from storage.config import RevbotConfig
from storage.sync.sqlvalues import insert_many, update_many


def upsert_users(connection: Connection, users: pd.DataFrame, config: RevbotConfig) -> dict[str, int]:
    """`users` has crm_id, name, email. New people get their role from config.roles (by email)."""
    counts = {"users_inserted": 0, "users_updated": 0}
    if users.empty:
        return counts
    stored = connection.execute(text("SELECT id, crm_id, name, email FROM users")).fetchall()
    by_crm = {r.crm_id: r for r in stored if r.crm_id}
    by_email = {r.email.casefold(): r for r in stored if r.email}
    emails_taken = set(by_email)
    inserts, updates = [], []
    for crm_id, name, email in users[["crm_id", "name", "email"]].itertuples(index=False):
        email = email.lower() if isinstance(email, str) and email else None
        name = name if isinstance(name, str) and name else (email or crm_id)
        match = by_crm.get(crm_id) or (by_email.get(email) if email else None)
        if match is None:
            if email in emails_taken:
                email = None
            inserts.append((crm_id, name, email, config.roles.get(email or "", "rep")))
            if email:
                emails_taken.add(email)
            continue
        new_email = (
            email if email and (email == (match.email or "").casefold() or email not in emails_taken) else match.email
        )
        if (match.crm_id, match.name, match.email) != (crm_id, name, new_email):
            updates.append((crm_id, name, new_email, match.id))
    insert_many(connection, "users", ["crm_id", "name", "email", "role"], inserts)
    update_many(connection, "users", ["crm_id", "name", "email"], updates)
    counts.update(users_inserted=len(inserts), users_updated=len(updates))
    return counts


def upsert_accounts(connection: Connection, accounts: pd.DataFrame) -> dict[str, int]:
    """`accounts` has crm_id, name, owner_crm_id, industry, region (and optionally owner_id,
    used when the owner has no CRM id, as for owners a file import created by name)."""
    counts = {"accounts_inserted": 0, "accounts_updated": 0}
    if accounts.empty:
        return counts
    owners = {crm: uid for uid, crm in connection.execute(text("SELECT id, crm_id FROM users")) if crm}
    stored = connection.execute(text("SELECT id, crm_id, name, owner_id, industry, region FROM accounts")).fetchall()
    by_crm = {r.crm_id: r for r in stored if r.crm_id}
    by_name = {r.name.casefold(): r for r in stored if not r.crm_id and r.name}
    inserts, updates = [], []
    if "owner_id" not in accounts:
        accounts = accounts.assign(owner_id=None)
    for crm_id, name, owner_crm_id, known_owner, industry, region in accounts[
        ["crm_id", "name", "owner_crm_id", "owner_id", "industry", "region"]
    ].itertuples(index=False):
        crm_id = crm_id if isinstance(crm_id, str) and crm_id else None
        name = name if isinstance(name, str) and name else crm_id
        owner_id = owners.get(owner_crm_id) if isinstance(owner_crm_id, str) else None
        if owner_id is None and known_owner is not None and not pd.isna(known_owner):
            owner_id = int(known_owner)
        industry = industry if isinstance(industry, str) and industry else None
        region = region if isinstance(region, str) and region else None
        match = (by_crm.get(crm_id) if crm_id else None) or by_name.pop(name.casefold(), None)
        if match is None:
            inserts.append((crm_id, name, owner_id, industry, region, False))
        elif (match.crm_id, match.name, match.owner_id, match.industry, match.region) != (
            crm_id,
            name,
            owner_id,
            industry,
            region,
        ):
            updates.append((crm_id, name, owner_id, industry, region, match.id))
    insert_many(
        connection, "accounts", ["crm_id", "name", "owner_id", "industry", "region", "is_target_account"], inserts
    )
    update_many(connection, "accounts", ["crm_id", "name", "owner_id", "industry", "region"], updates)
    counts.update(accounts_inserted=len(inserts), accounts_updated=len(updates))
    return counts
