"""Rows → DataFrames for digests and alerts, always within a `Scope`.

The edge between the database and the pure digest/alert code: it reads only the columns the
digests need, filters by the scope's owners in SQL (a team digest never even loads another team's
deals), and converts amounts to the reporting currency so everything downstream is one currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.orm import Session

from storage import queries
from storage.config import RevbotConfig
from storage.models import Account, CustomerHealth, Deal, DealHistory, Subscription, Target, Team, User
from storage.scope import Scope

DEAL_COLUMNS = (
    Deal.id,
    Deal.name,
    Deal.account_id,
    Deal.owner_id,
    Deal.amount,
    Deal.currency,
    Deal.stage,
    Deal.forecast_category,
    Deal.probability,
    Deal.close_date,
    Deal.created_at,
    Deal.last_activity_at,
    Deal.stage_entered_at,
    Deal.is_closed,
    Deal.is_won,
    Deal.crm_url,
)


@dataclass(frozen=True)
class Org:
    """People and teams: small tables, loaded whole."""

    users: pd.DataFrame  # id, name, email, slack_user_id, team_id, role
    teams: pd.DataFrame  # id, name, slack_channel_id


def _frame(session: Session, query: Select, columns: list[str]) -> pd.DataFrame:
    rows = session.execute(query).tuples().all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _scoped(query: Select, column, scope: Scope) -> Select:  # type: ignore[no-untyped-def]
    if scope.owner_ids is None:
        return query
    return query.where(column.in_(sorted(scope.owner_ids)))


def load_org(session: Session) -> Org:
    users = _frame(
        session,
        select(User.id, User.name, User.email, User.slack_user_id, User.team_id, User.role),
        ["id", "name", "email", "slack_user_id", "team_id", "role"],
    )
    teams = _frame(session, select(Team.id, Team.name, Team.slack_channel_id), ["id", "name", "slack_channel_id"])
    return Org(users=users, teams=teams)


def to_reporting(frame: pd.DataFrame, config: RevbotConfig, column: str = "amount") -> pd.DataFrame:
    """Amounts in the reporting currency (fx rates from config), in place of the original."""
    if frame.empty:
        return frame
    rates = frame["currency"].map(lambda c: config.fx_rate(c))
    frame[column] = frame[column].astype(float) * rates
    return frame


def load_deals(
    session: Session,
    config: RevbotConfig,
    scope: Scope,
    *,
    open_only: bool = False,
    changed_since: datetime | None = None,
    only: ColumnElement[bool] | None = None,
) -> pd.DataFrame:
    """Deals in scope (not removed), with `account_name`, amounts in the reporting currency.

    `changed_since` keeps open deals plus deals closed since then: enough for weekly movement and
    alerts without reading years of closed history."""
    query = (
        select(*DEAL_COLUMNS, Account.name.label("account_name"))
        .outerjoin(Account, Account.id == Deal.account_id)
        .where(Deal.removed_at.is_(None))
    )
    if open_only:
        query = query.where(Deal.is_closed.is_(False))
    elif changed_since is not None:
        query = query.where((Deal.is_closed.is_(False)) | (Deal.close_date >= changed_since.date()))
    if only is not None:  # a further SQL filter: e.g. just the rows some alert rule can match
        query = query.where(only)
    query = _scoped(query, Deal.owner_id, scope)
    columns = [c.key for c in DEAL_COLUMNS] + ["account_name"]
    frame = _frame(session, query, columns)
    frame["is_closed"] = frame["is_closed"].astype(bool)
    frame["is_won"] = frame["is_won"].astype(bool)
    return to_reporting(frame, config)


def load_history(session: Session, scope: Scope, *, since: datetime) -> pd.DataFrame:
    """Changes (stage, amount, close date, ...) observed since `since`, for deals in scope."""
    columns = ["deal_id", "field", "old_value", "new_value", "changed_at"]
    # Raw columns and one vectorised datetime conversion instead of SQLAlchemy's per-row parsing.
    query = (
        select(*(queries._raw(getattr(DealHistory, c), c) for c in columns))
        .join(Deal, Deal.id == DealHistory.deal_id)
        .where(DealHistory.changed_at >= since, Deal.removed_at.is_(None))
    )
    query = _scoped(query, Deal.owner_id, scope)
    frame = _frame(session, query, columns)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], format="ISO8601")
    return frame


def load_targets(session: Session, start: date, end: date) -> pd.DataFrame:
    """Bookings targets overlapping [start, end]."""
    query = select(Target.user_id, Target.team_id, Target.period_start, Target.period_end, Target.amount).where(
        Target.metric == "bookings", Target.period_start <= end, Target.period_end >= start
    )
    return _frame(session, query, ["user_id", "team_id", "period_start", "period_end", "amount"])


def load_renewals(session: Session, config: RevbotConfig, scope: Scope, *, today: date, days: int) -> pd.DataFrame:
    """Active subscriptions renewing within `days`, per account, with ARR in reporting currency."""
    # Raw columns (no per-row type conversion: the dates are converted once, after grouping).
    query = (
        select(*(queries._raw(c, c.key) for c in (Subscription.account_id, Subscription.mrr, Subscription.currency,
                                                   Subscription.end_date)),
               queries._raw(Account.name, "name"), queries._raw(Account.owner_id, "owner_id"),
               queries._raw(Account.crm_id, "crm_id"))
        .join(Account, Account.id == Subscription.account_id)
        .where(Subscription.status == "active", Subscription.end_date >= today,
               Subscription.end_date <= pd.Timestamp(today) + pd.Timedelta(days=days))
    )
    query = _scoped(query, Account.owner_id, scope)
    frame = _frame(session, query, ["account_id", "mrr", "currency", "end_date", "account_name", "owner_id", "crm_id"])
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
    if not account_ids:
        return pd.DataFrame(columns=["account_id", "date", "health_score", "usage", "open_tickets", "nps"])
    columns = ["account_id", "date", "health_score", "usage", "open_tickets", "nps"]
    # Raw columns (SQLite dates stay text until one vectorised conversion): the risk score only
    # orders by date and reads the numbers.
    query = select(*(queries._raw(getattr(CustomerHealth, c), c) for c in columns)).where(
        CustomerHealth.account_id.in_(account_ids), CustomerHealth.date >= since)
    frame = _frame(session, query, columns)
    frame["date"] = pd.to_datetime(frame["date"], format="ISO8601")
    return frame


def load_open_deal_history(session: Session, scope: Scope, *, since: date | datetime, until: date | datetime,
                           fields: tuple[str, ...]) -> pd.DataFrame:
    """`storage.queries.load_history` restricted to deals that are still open: all the weekly movement
    counts (advanced and slipped are open deals), and far fewer rows than every change of the week
    on a big org. Same columns and order as `load_history`."""
    stmt = (
        select(*(queries._raw(getattr(DealHistory, name), name) for name in queries.HISTORY_COLUMNS))
        .join(Deal, Deal.id == DealHistory.deal_id)
        .where(Deal.removed_at.is_(None), Deal.is_closed == false(),
               DealHistory.changed_at >= queries._as_datetime(since),
               DealHistory.changed_at < queries._as_datetime(until),
               DealHistory.field.in_(sorted(set(fields))))
    )
    stmt = queries._scoped(stmt, scope, Deal.owner_id)
    return queries._execute(session, stmt.order_by(DealHistory.changed_at, DealHistory.id), queries.HISTORY_COLUMNS)


LIVE_SUBSCRIPTION_COLUMNS = ("account_id", "mrr", "currency", "start_date", "end_date", "status")


def load_live_subscriptions(session: Session, *, start: date, today: date) -> pd.DataFrame:
    """The subscription rows that pay on `start` or on `today` (the only days the retention
    summary looks at): start_date <= today and (active or ended after `start`). Narrow columns,
    no join: on a big org this skips the long tail of long-ended rows."""
    stmt = select(*(queries._raw(getattr(Subscription, name), name) for name in LIVE_SUBSCRIPTION_COLUMNS)).where(
        Subscription.start_date <= today, (Subscription.status == "active") | (Subscription.end_date > start)
    )
    return queries._execute(session, stmt.order_by(Subscription.account_id, Subscription.start_date),
                            LIVE_SUBSCRIPTION_COLUMNS)


def has_subscriptions(session: Session) -> bool:
    return session.execute(select(Subscription.id).limit(1)).first() is not None
