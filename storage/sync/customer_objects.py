"""Subscriptions and customer health from files. Both point at an account by CRM id or name;
accounts that do not exist yet are created and reported, as a deal import does, so a billing
export alone is enough to get retention numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from storage.config import RevbotConfig
from storage.sync.keyed import Progress, upsert_keyed
from storage.sync.readers import Table
from storage.sync.references import Created, resolve_accounts
from storage.sync.rowcheck import RowCheck

SUBSCRIPTION_STATUSES = {
    "active": "active",
    "canceled": "canceled",
    "cancelled": "canceled",
    "superseded": "superseded",
}


def _account_refs(check: RowCheck, what: str) -> pd.DataFrame:
    refs = pd.DataFrame({"account_crm_id": check.text("account_crm_id"), "account": check.text("account")})
    if "account" not in check.columns and "account_crm_id" not in check.columns:
        check.missing(f"no account column (looked for 'Account Name', 'Account ID', 'account'); every {what} needs one")
    else:
        field = "account" if "account" in check.columns else "account_crm_id"
        check.bad(field, refs.isna().all(axis=1), f"names no account; every {what} needs one")
    return refs


def _resolve(connection: Connection, refs: pd.DataFrame) -> tuple[pd.Series, Created]:
    created = Created()
    ids = resolve_accounts(connection, refs, None, created)
    return pd.Series([None if pd.isna(v) else int(v) for v in ids], index=ids.index, dtype=object), created


def _created_stats(created: Created) -> dict[str, Any]:
    return {"accounts_created": len(created.accounts), "accounts_created_names": created.accounts[:20]}


def prepare_subscriptions(config: RevbotConfig, table: Table, columns: dict[str, str], date_format: str | None,
                          source: str):  # type: ignore[no-untyped-def]  # fmt: skip
    """Validate a subscription file; returns the writer that upserts on (account, product, start_date)."""
    check = RowCheck(table, columns, date_format)
    refs = _account_refs(check, "subscription")
    product = check.required_text("product", "subscription")
    start = check.dates("start_date", required=True)
    end = check.dates("end_date", required=False)
    check.bad("end_date", end.notna() & start.notna() & (end < start), "is before the start date")
    if "mrr" in columns:
        mrr = check.money("mrr")
        blank = mrr.isna() & check.text("mrr").isna()
        if "arr" in columns:
            mrr = mrr.where(~blank, (check.money("arr") / 12).round(2))
            blank = mrr.isna() & check.text("arr").isna() & blank
        check.bad("mrr", blank, "is blank; every subscription needs its MRR (or ARR)")
    elif "arr" in columns:
        mrr = (check.money("arr") / 12).round(2)
        check.bad("arr", check.text("arr").isna(), "is blank; every subscription needs its ARR (or MRR)")
    else:
        check.missing("no MRR or ARR column (looked for 'MRR', 'Monthly Amount', 'ARR', 'mrr', 'arr')")
        mrr = pd.Series(float("nan"), index=table.frame.index)
    check.bad("mrr" if "mrr" in columns else "arr", mrr < 0, "is negative; MRR cannot be")
    status_text = check.text("status")
    status = status_text.str.casefold().map(SUBSCRIPTION_STATUSES).astype(object)
    if "status" in columns:
        check.bad("status", status_text.notna() & status.isna(), "is not a status (active, canceled, superseded)")
    status = status.where(status_text.notna(), "active")
    currency = check.currency(config.reporting_currency)
    check.raise_if_any(source)

    def write(connection: Connection, now: datetime, progress: Progress) -> dict[str, Any]:
        account_ids, created = _resolve(connection, refs)
        keys = pd.DataFrame({"account": account_ids, "product": product, "start": start})
        check.duplicates(keys, "product", "account, product and start date")
        check.raise_if_any(source)
        incoming = list(
            zip(account_ids, product, start, _plain(mrr), currency,
                end.where(end.notna(), None), status, strict=True)
        )  # fmt: skip
        counts = upsert_keyed(
            connection, "subscriptions", ("account_id", "product", "start_date"),
            ("mrr", "currency", "end_date", "status"), incoming, progress,
        )  # fmt: skip
        return {**counts, **_created_stats(created)}

    return write


def prepare_health(config: RevbotConfig, table: Table, columns: dict[str, str], date_format: str | None,
                   source: str):  # type: ignore[no-untyped-def]  # fmt: skip
    """Validate a customer-health file; returns the writer that upserts on (account, date)."""
    check = RowCheck(table, columns, date_format)
    refs = _account_refs(check, "health row")
    day = check.dates("date", required=True)
    score = check.numbers("health_score", 0, 100)
    usage = check.numbers("usage", 0, None)
    tickets = check.numbers("open_tickets", 0, None, whole=True)
    nps = check.numbers("nps", -100, 100, whole=True)
    check.raise_if_any(source)

    def write(connection: Connection, now: datetime, progress: Progress) -> dict[str, Any]:
        account_ids, created = _resolve(connection, refs)
        keys = pd.DataFrame({"account": account_ids, "date": day})
        check.duplicates(keys, "date", "account and date")
        check.raise_if_any(source)
        incoming = list(
            zip(account_ids, day, _plain(score), _plain(usage), _plain(tickets, int), _plain(nps, int), strict=True)
        )
        counts = upsert_keyed(
            connection, "customer_health", ("account_id", "date"),
            ("health_score", "usage", "open_tickets", "nps"), incoming, progress,
        )  # fmt: skip
        return {**counts, **_created_stats(created)}

    return write


def _plain(values: pd.Series, kind: type = float) -> list[Any]:
    return [None if pd.isna(v) else kind(v) for v in values]
