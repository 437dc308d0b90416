"""File imports of objects other than deals: accounts and users (upserted like API records);
subscriptions and health (customer_objects.py) and targets (targets_import.py), upserted on
their natural keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from storage.config import RevbotConfig
from storage.sync.customer_objects import prepare_health, prepare_subscriptions
from storage.sync.directory import upsert_accounts, upsert_users
from storage.sync.parsing import clean_text, parse_booleans
from storage.sync.presets import OBJECTS
from storage.sync.problems import Problem, RejectedInput, SyncInputError
from storage.sync.readers import Table
from storage.sync.references import Created, resolve_owners
from storage.sync.sqlvalues import mark
from storage.sync.targets_import import prepare_targets

Writer = Callable[[Connection, datetime, Any], dict[str, Any]]


def prepare_object(config: RevbotConfig, table: Table, columns: dict[str, str], options: Any, name: str) -> Writer:
    if options.object == "subscriptions":
        return prepare_subscriptions(config, table, columns, options.date_format, name)
    if options.object == "health":
        return prepare_health(config, table, columns, options.date_format, name)
    if options.object == "targets":
        return prepare_targets(config, table, columns, options.date_format, name)
    raw = table.frame
    text = {field: clean_text(raw[column]) for field, column in columns.items()}
    rows = pd.Series(range(table.first_row, table.first_row + len(raw)), index=raw.index)
    problems: list[Problem] = []
    for field in ("name",):
        if field in text:
            for index in text[field][text[field].isna()].index:
                problems.append(Problem(int(rows[index]), columns[field], "", f"is blank; every row needs a {field}"))
    if options.object == "users":
        if problems:
            raise RejectedInput(problems, source=name)
        frame = pd.DataFrame(
            {
                "crm_id": text.get("crm_id", pd.Series(None, index=raw.index)),
                "name": text["name"],
                "email": text.get("email", pd.Series(None, index=raw.index)),
            }
        )

        def write_users(connection: Connection, now: datetime, progress: Any) -> dict[str, Any]:
            counts = upsert_users(connection, frame, config)
            return {"rows": len(frame), "inserted": counts["users_inserted"], "updated": counts["users_updated"]}

        return write_users
    if options.object == "accounts":
        target, bad_target = parse_booleans(raw[columns["is_target_account"]]) if "is_target_account" in columns else (
            None, None)  # fmt: skip
        if bad_target is not None:
            for index in bad_target[bad_target].index:
                value = str(raw.at[index, columns["is_target_account"]])
                problems.append(Problem(int(rows[index]), columns["is_target_account"], value, "is not yes/no"))
        if problems:
            raise RejectedInput(problems, source=name)
        frame = pd.DataFrame(
            {
                "crm_id": text.get("crm_id", pd.Series(None, index=raw.index)),
                "name": text["name"],
                "owner": text.get("owner", pd.Series(None, index=raw.index)),
                "industry": text.get("industry", pd.Series(None, index=raw.index)),
                "region": text.get("region", pd.Series(None, index=raw.index)),
            }
        )

        def write_accounts(connection: Connection, now: datetime, progress: Any) -> dict[str, Any]:
            created = Created()
            owner_ids = resolve_owners(connection, frame, created)
            accounts = frame.assign(owner_crm_id=None, owner_id=owner_ids.astype(object))
            counts = upsert_accounts(connection, accounts)
            if target is not None:
                m = mark(connection)
                sql = (
                    f"UPDATE accounts SET is_target_account = {m} WHERE crm_id = {m} OR (crm_id IS NULL AND name = {m})"
                )
                keys = frame["crm_id"].where(frame["crm_id"].notna(), frame["name"])
                params = [(bool(flag), key, key) for flag, key in zip(target, keys, strict=True)]
                connection.exec_driver_sql(sql, params)
            return {
                "rows": len(frame),
                "inserted": counts["accounts_inserted"],
                "updated": counts["accounts_updated"],
                "owners_created": len(created.owners),
                "owners_created_names": created.owners[:20],
            }

        return write_accounts
    raise SyncInputError(
        f"importing {options.object} from a file is not supported; supported: {', '.join(OBJECTS)}"
    )
