"""Rows → DataFrames for the alert rules, always within a `Scope`.

The edge between the database (`storage.digest_queries`) and the pure alert code: it filters by
the scope's owners in SQL and converts amounts to the reporting currency, so everything downstream
is one currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from storage import digest_queries
from storage.config import RevbotConfig
from storage.scope import Scope


@dataclass(frozen=True)
class Org:
    """People and teams: small tables, loaded whole."""

    users: pd.DataFrame  # id, name, email, slack_user_id, team_id, role
    teams: pd.DataFrame  # id, name, slack_channel_id


def _owners(scope: Scope) -> frozenset[int] | None:
    return None if scope.owner_ids is None else scope.owner_ids


def load_org(session: Session) -> Org:
    users, teams = digest_queries.users_and_teams(session)
    return Org(users=users, teams=teams)


def to_reporting(frame: pd.DataFrame, config: RevbotConfig, column: str = "amount") -> pd.DataFrame:
    """Amounts in the reporting currency (fx rates from config), in place of the original."""
    if frame.empty:
        return frame
    rates = frame["currency"].map(lambda c: config.fx_rate(c))
    frame[column] = frame[column].astype(float) * rates
    return frame


def load_deals(session: Session, config: RevbotConfig, ids: Select[Any]) -> pd.DataFrame:
    """The deals `ids` (`storage.digest_queries.alert_candidate_ids`), with `account_name`,
    amounts in the reporting currency."""
    frame = digest_queries.alert_deals(session, ids)
    # One conversion per column instead of SQLAlchemy's per value: timestamps as datetime64,
    # close dates as `date` objects (None when unset), which the rules compare and format.
    for name in ("created_at", "last_activity_at", "stage_entered_at"):
        frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype("datetime64[us]")
    close = pd.to_datetime(frame["close_date"], format="ISO8601")
    frame["close_date"] = pd.Series(np.where(close.notna(), close.dt.date, None), index=frame.index, dtype=object)
    frame["amount"] = frame["amount"].astype("float64")
    frame["probability"] = pd.to_numeric(frame["probability"]).astype("float64")
    frame["is_closed"] = frame["is_closed"].astype(bool)
    frame["is_won"] = frame["is_won"].astype(bool)
    return to_reporting(frame, config)


def load_history(session: Session, scope: Scope, *, since: datetime, only: ColumnElement[bool] | None = None
                 ) -> pd.DataFrame:
    """Changes (stage, amount, close date, ...) observed since `since`, for deals in scope (and
    matching `only`)."""
    return digest_queries.history_since(session, since=since, owner_ids=_owners(scope), only=only)


def load_targets(session: Session, start: date, end: date) -> pd.DataFrame:
    """Bookings targets overlapping [start, end]."""
    return digest_queries.bookings_targets(session, start, end)


def load_renewals(session: Session, config: RevbotConfig, scope: Scope, *, today: date, days: int) -> pd.DataFrame:
    """Active subscriptions renewing within `days`, per account, with ARR in reporting currency."""
    until = today + timedelta(days=days)
    frame = digest_queries.renewing_subscriptions(session, today=today, until=until, owner_ids=_owners(scope))
    frame = to_reporting(frame, config, column="mrr")
    if frame.empty:
        return frame.assign(arr=pd.Series(dtype=float))
    # datetime64 before grouping: min() over an object column of dates falls back to Python (6 s at 1M deals).
    frame["end_date"] = pd.to_datetime(frame["end_date"], format="ISO8601")
    grouped = frame.groupby(["account_id", "account_name", "owner_id"], as_index=False, dropna=False).agg(
        mrr=("mrr", "sum"), renewal_date=("end_date", "min")
    )
    grouped["renewal_date"] = grouped["renewal_date"].dt.date
    grouped["arr"] = grouped["mrr"] * 12
    return grouped


def load_health(session: Session, account_ids: list[int], *, since: date) -> pd.DataFrame:
    """Health snapshots of `account_ids` since `since` (raw numbers, `date` as datetime64)."""
    return digest_queries.health_since(session, account_ids, since=since)


def load_renewing_health(session: Session, *, today: date, days: int, since: date) -> pd.DataFrame:
    """Health snapshots since `since` of every account with an active subscription ending within
    `days` (the accounts of `load_renewals`, for everyone), `date` as datetime64: each account's
    first and last (`digest_queries.health_since(ends_only=True)`), which is all the risk score
    reads (latest readings, usage then and now)."""
    return digest_queries.health_since(
        session, digest_queries.renewing_account_ids(today=today, until=today + timedelta(days=days)), since=since,
        ends_only=True)


def has_subscriptions(session: Session) -> bool:
    return digest_queries.has_subscriptions(session)
