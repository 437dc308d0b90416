"""Small builders for hand-made deal, history and subscription frames."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd


def deal(id: int, amount: float, stage: str, **fields: Any) -> dict[str, Any]:  # noqa: A002 - column name
    won = stage == "Closed Won"
    closed = won or stage == "Closed Lost"
    row: dict[str, Any] = {
        "id": id,
        "name": f"Deal {id}",
        "amount": amount,
        "currency": "USD",
        "stage": stage,
        "is_closed": closed,
        "is_won": won,
        "owner_id": 1,
        "account_id": None,
        "created_at": datetime(2026, 1, 5),
        "close_date": date(2026, 9, 15),
        "last_activity_at": datetime(2026, 8, 14),
        "stage_entered_at": datetime(2026, 8, 1),
        "forecast_category": None,
        "source": None,
    }
    row.update(fields)
    return row


def deals(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def change(deal_id: int, field: str, old: object, new: object, at: datetime) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "field": field,
        "old_value": None if old is None else str(old),
        "new_value": None if new is None else str(new),
        "changed_at": at,
    }


def subscription(
    account_id: int, mrr: float, start: date, end: date | None, status: str = "active", **fields: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "account_id": account_id,
        "account_name": f"Account {account_id}",
        "product": "Platform",
        "mrr": mrr,
        "currency": "USD",
        "start_date": start,
        "end_date": end,
        "status": status,
    }
    row.update(fields)
    return row
