"""The query layer: load exactly the rows (or sums) a question needs, as pandas DataFrames.

Every deal-shaped query takes a `Scope` and filters `owner_id IN scope.owner_ids` in SQL (unless the
scope is everyone), and always drops soft-deleted deals (`removed_at IS NOT NULL`). Filters and
aggregates are pushed into SQL so that a rep's question reads that rep's rows through
`ix_deals_owner_open`, never the whole org.

Frames have stable column names and dtypes, whatever the database:
- ids: `Int64` (nullable); money (`amount`, `mrr`): float64 in the row's own `currency` (convert with
  `metrics.money`); `probability`: float64 percent 0–100 (NaN when unset);
- dates and timestamps (`close_date`, `created_at`, ...): pandas datetime64, naive (timestamps are UTC,
  dates are calendar days), NaT when unset; flags (`is_closed`, `is_won`, ...): bool;
- text: object/str, None/NaN when unset.

Ranges (`close_date_between=`, `since=`, ...) accept a `metrics.periods.Period` or a `(start, end)`
pair of dates, both ends inclusive. A deal "closed in" a range is a closed deal whose `close_date`
falls in it: the CRMs set the close date to the day the deal was actually won or lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from storage.config import PipelineRules
from storage.models import Account, CustomerHealth, Deal, DealHistory, Subscription, Target, Team, User
from storage.scope import Scope


class _DateRange(Protocol):
    start: date
    end: date


DateRange = _DateRange | tuple[date, date]

DEAL_COLUMNS: tuple[str, ...] = (
    "id",
    "crm_id",
    "name",
    "account_id",
    "account_name",
    "owner_id",
    "owner_name",
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
)

# What `metrics.pipeline.pipeline_summary`, `metrics.revenue.attainment` and `forecast` read: no joins,
# so a rep's whole book loads fast. Fetch names for the few rows a reply shows with `deal_ids=`.
PIPELINE_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
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
    "is_closed",
    "is_won",
)

_INT_COLUMNS = {
    "id",
    "account_id",
    "owner_id",
    "deal_id",
    "user_id",
    "team_id",
    "manager_id",
    "count",
    "open_tickets",
    "nps",
}
_FLOAT_COLUMNS = {"amount", "probability", "mrr", "health_score", "usage"}
_DATETIME_COLUMNS = {
    "close_date",
    "created_at",
    "last_activity_at",
    "stage_entered_at",
    "changed_at",
    "start_date",
    "end_date",
    "period_start",
    "period_end",
    "date",
}
_BOOL_COLUMNS = {"is_closed", "is_won", "is_target_account"}


def _deal_column(name: str) -> ColumnElement[Any]:
    if name == "account_name":
        return Account.name
    if name == "owner_name":
        return User.name
    try:
        return getattr(Deal, name)
    except AttributeError:
        raise ValueError(f"load_deals: unknown column {name!r}; known: {', '.join(DEAL_COLUMNS)}") from None


def _raw(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    # Skip SQLAlchemy's per-row type conversion (date parsing on SQLite, Decimal on PostgreSQL):
    # pandas converts whole columns at once in `_frame`, which is what keeps big loads fast.
    return type_coerce(column, NullType()).label(name)


def _bounds(between: DateRange) -> tuple[date, date]:
    if isinstance(between, tuple):
        return between
    return between.start, between.end


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def _timestamp_between(column: ColumnElement[Any], between: DateRange) -> ColumnElement[bool]:
    start, end = _bounds(between)
    return and_(column >= _day_start(start), column < _day_start(end) + timedelta(days=1))


def _scoped(stmt: Select[Any], scope: Scope | None, owner_column: ColumnElement[Any]) -> Select[Any]:
    if scope is None or scope.is_everyone:
        return stmt
    if not scope.owner_ids:
        return stmt.where(false())
    return stmt.where(owner_column.in_(sorted(scope.owner_ids)))


# --- statements built once per shape ---------------------------------------------------------
# Building a statement and its cache key costs SQLAlchemy ten times what SQLite spends answering a
# rep's question, so the statements every /pipeline runs are built once per shape — scope kind,
# dialect, the stages with a median — with the values (owners, dates, thresholds) as bound
# parameters. `functools.lru_cache` keeps them; statements are immutable, so threads may share them.


class ScopeShape(NamedTuple):
    kind: str  # "everyone", "owners" (bound as the expanding parameter `owners`) or "nobody"
    dialect: str


def _shape(session: Session, scope: Scope | None) -> ScopeShape:
    kind = "everyone" if scope is None or scope.is_everyone else "owners" if scope.owner_ids else "nobody"
    return ScopeShape(kind, session.get_bind().dialect.name)


def _scope_params(scope: Scope | None) -> dict[str, Any]:
    if scope is None or scope.is_everyone or not scope.owner_ids:
        return {}
    return {"owners": sorted(scope.owner_ids)}


def _scoped_shape(stmt: Select[Any], shape: ScopeShape, owner_column: ColumnElement[Any]) -> Select[Any]:
    """`_scoped` with the owners as a bound parameter."""
    if shape.kind == "everyone":
        return stmt
    if shape.kind == "nobody":
        return stmt.where(false())
    return stmt.where(owner_column.in_(bindparam("owners", expanding=True)))


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Rows → DataFrame with the documented dtypes, the same on SQLite and PostgreSQL."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    for name in columns:
        if name in _INT_COLUMNS:
            frame[name] = pd.array(pd.to_numeric(frame[name]), dtype="Int64")
        elif name in _FLOAT_COLUMNS:
            frame[name] = _floats(frame[name])
        elif name in _DATETIME_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], errors="coerce", format="ISO8601").astype("datetime64[us]")
        elif name in _BOOL_COLUMNS:
            frame[name] = frame[name].fillna(False).astype(bool)
    return frame


def _floats(column: pd.Series) -> pd.Series:
    try:
        return column.astype("float64")  # SQLite gives floats/ints, PostgreSQL Decimals: both convert
    except (TypeError, ValueError):
        return pd.to_numeric(column, errors="coerce").astype("float64")


def _execute(session: Session, stmt: Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    return _frame(session.execute(stmt).all(), columns)


# --- deals -----------------------------------------------------------------------------------


def _deals_select(columns: Sequence[str]) -> Select[Any]:
    stmt = select(*(_raw(_deal_column(name), name) for name in columns)).select_from(Deal)
    if "account_name" in columns:
        stmt = stmt.outerjoin(Account, Account.id == Deal.account_id)
    if "owner_name" in columns:
        stmt = stmt.outerjoin(User, User.id == Deal.owner_id)
    return stmt.where(Deal.removed_at.is_(None))


def load_deals(
    session: Session,
    scope: Scope,
    *,
    open_only: bool = False,
    close_date_between: DateRange | None = None,
    closed_between: DateRange | None = None,
    created_between: DateRange | None = None,
    deal_ids: Iterable[int] | None = None,
    account_ids: Iterable[int] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Deals in scope; every filter given is ANDed. Columns default to `DEAL_COLUMNS`."""
    names = tuple(columns or DEAL_COLUMNS)
    stmt = _scoped(_deals_select(names), scope, Deal.owner_id)
    if open_only:
        stmt = stmt.where(Deal.is_closed == false())
    if close_date_between is not None:
        stmt = stmt.where(Deal.close_date.between(*_bounds(close_date_between)))
    if closed_between is not None:
        stmt = stmt.where(Deal.is_closed == true(), Deal.close_date.between(*_bounds(closed_between)))
    if created_between is not None:
        stmt = stmt.where(_timestamp_between(Deal.created_at, created_between))
    if deal_ids is not None:
        stmt = stmt.where(Deal.id.in_(sorted(set(deal_ids))))
    if account_ids is not None:
        stmt = stmt.where(Deal.account_id.in_(sorted(set(account_ids))))
    return _execute(session, stmt.order_by(Deal.id), names)


def load_pipeline_deals(
    session: Session, scope: Scope, period: DateRange, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Everything `metrics.pipeline.pipeline_summary` and `metrics.revenue` need for one period in
    one query: every open deal, plus deals closed in the period, plus deals created in it."""
    names = tuple(columns or DEAL_COLUMNS)
    start, end = _bounds(period)
    stmt = _scoped(_deals_select(names), scope, Deal.owner_id).where(
        or_(
            Deal.is_closed == false(),
            Deal.close_date.between(start, end),
            _timestamp_between(Deal.created_at, (start, end)),
        )
    )
    return _execute(session, stmt.order_by(Deal.id), names)


def find_deals(session: Session, scope: Scope, text: str, limit: int = 10) -> pd.DataFrame:
    """Deals matching `text`: an exact CRM id or revbot id first, then a case-insensitive substring
    of the deal or account name (open deals first, biggest first)."""
    needle = text.strip()
    if not needle:
        return _frame([], DEAL_COLUMNS)
    base = _scoped(_deals_select(DEAL_COLUMNS), scope, Deal.owner_id)
    exact_conditions = [func.lower(Deal.crm_id) == needle.lower()]
    if needle.isdigit() and int(needle) < 2**63:  # larger numbers cannot be an id (SQLite INTEGER is 64-bit)
        exact_conditions.append(Deal.id == int(needle))
    exact = _execute(session, base.where(or_(*exact_conditions)).limit(limit), DEAL_COLUMNS)
    if not exact.empty:
        return exact
    pattern = f"%{_escape_like(needle.lower())}%"
    stmt = (
        base.where(
            or_(
                func.lower(Deal.name).like(pattern, escape="\\"),
                func.lower(Account.name).like(pattern, escape="\\"),
            )
        )
        .order_by(Deal.is_closed, Deal.amount.desc(), Deal.id)
        .limit(limit)
    )
    return _execute(session, stmt, DEAL_COLUMNS)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- history ---------------------------------------------------------------------------------

HISTORY_COLUMNS = ("deal_id", "field", "old_value", "new_value", "changed_at")


def load_history(
    session: Session,
    scope: Scope,
    *,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    deal_ids: Iterable[int] | None = None,
    fields: Iterable[str] | None = None,
) -> pd.DataFrame:
    """`deal_history` rows of deals in scope, oldest first. `since` is inclusive, `until` exclusive
    (a date means midnight UTC at the start of that day)."""
    stmt = (
        select(*(_raw(getattr(DealHistory, name), name) for name in HISTORY_COLUMNS))
        .join(Deal, Deal.id == DealHistory.deal_id)
        .where(Deal.removed_at.is_(None))
    )
    stmt = _scoped(stmt, scope, Deal.owner_id)
    if since is not None:
        stmt = stmt.where(DealHistory.changed_at >= _as_datetime(since))
    if until is not None:
        stmt = stmt.where(DealHistory.changed_at < _as_datetime(until))
    if deal_ids is not None:
        stmt = stmt.where(DealHistory.deal_id.in_(sorted(set(deal_ids))))
    if fields is not None:
        stmt = stmt.where(DealHistory.field.in_(sorted(set(fields))))
    return _execute(session, stmt.order_by(DealHistory.changed_at, DealHistory.id), HISTORY_COLUMNS)


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else _day_start(value)


# --- targets ---------------------------------------------------------------------------------

TARGET_COLUMNS = ("id", "user_id", "team_id", "period_start", "period_end", "metric", "amount")


def load_targets(
    session: Session,
    *,
    period: DateRange,
    user_ids: Iterable[int] | None = None,
    team_ids: Iterable[int] | None = None,
    metric: str = "bookings",
) -> pd.DataFrame:
    """Targets whose span overlaps `period` (amounts in the reporting currency). With `user_ids`
    and/or `team_ids`, only those owners' targets (either list matching is enough)."""
    columns = select(*(_raw(getattr(Target, name), name) for name in TARGET_COLUMNS))
    stmt = _targets_filtered(columns, user_ids is not None, team_ids is not None)
    return _frame(session.execute(stmt, _target_params(period, user_ids, team_ids, metric)).all(), TARGET_COLUMNS)


def _targets_filtered(stmt: Select[Any], by_user: bool, by_team: bool) -> Select[Any]:
    """Targets overlapping the period, of the metric, of the owners: values bound (`_target_params`)."""
    stmt = stmt.where(
        Target.period_start <= bindparam("end", type_=Date()),
        Target.period_end >= bindparam("start", type_=Date()),
        Target.metric == bindparam("metric"),
    )
    owners = []
    if by_user:
        owners.append(Target.user_id.in_(bindparam("user_ids", expanding=True)))
    if by_team:
        owners.append(Target.team_id.in_(bindparam("team_ids", expanding=True)))
    if owners:
        stmt = stmt.where(or_(*owners))
    return stmt.order_by(Target.id)


def _target_params(
    period: DateRange, user_ids: Iterable[int] | None, team_ids: Iterable[int] | None, metric: str
) -> dict[str, Any]:
    start, end = _bounds(period)
    params: dict[str, Any] = {"start": start, "end": end, "metric": metric}
    if user_ids is not None:
        params["user_ids"] = sorted(set(user_ids))
    if team_ids is not None:
        params["team_ids"] = sorted(set(team_ids))
    return params


class TargetRow(NamedTuple):
    """One `targets` row, plain (see `load_target_rows`)."""

    user_id: int | None
    team_id: int | None
    period_start: date
    period_end: date
    amount: float


def load_target_rows(
    session: Session,
    *,
    period: DateRange,
    user_ids: Iterable[int] | None = None,
    team_ids: Iterable[int] | None = None,
    metric: str = "bookings",
) -> list[TargetRow]:
    """`load_targets` as plain rows, for the one-owner questions of slash commands (no pandas)."""
    return [
        TargetRow(user_id, team_id, period_start, period_end, float(amount or 0))
        for user_id, team_id, period_start, period_end, amount in session.execute(
            _target_rows_statement(user_ids is not None, team_ids is not None),
            _target_params(period, user_ids, team_ids, metric),
        )
    ]


@lru_cache(maxsize=4)
def _target_rows_statement(by_user: bool, by_team: bool) -> Select[Any]:
    """Built once per filter shape: every answer reads a target."""
    return _targets_filtered(
        select(Target.user_id, Target.team_id, Target.period_start, Target.period_end, Target.amount), by_user, by_team
    )


# --- customers -------------------------------------------------------------------------------

SUBSCRIPTION_COLUMNS = (
    "id",
    "account_id",
    "account_name",
    "segment",
    "owner_id",
    "product",
    "mrr",
    "currency",
    "start_date",
    "end_date",
    "status",
)


def load_subscriptions(
    session: Session, scope: Scope | None, *, account_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Subscription rows (see `storage.models` for their semantics) of accounts in scope; a scope
    limits to accounts owned by its owners, `None` means every account."""
    columns = {
        "account_name": Account.name,
        "segment": Account.segment,
        "owner_id": Account.owner_id,
    }
    stmt = select(
        *(_raw(columns.get(name, getattr(Subscription, name, None)), name) for name in SUBSCRIPTION_COLUMNS)
    ).join(Account, Account.id == Subscription.account_id)
    stmt = _scoped(stmt, scope, Account.owner_id)
    if account_ids is not None:
        stmt = stmt.where(Subscription.account_id.in_(sorted(set(account_ids))))
    return _execute(session, stmt.order_by(Subscription.account_id, Subscription.start_date), SUBSCRIPTION_COLUMNS)


HEALTH_COLUMNS = ("account_id", "date", "health_score", "usage", "open_tickets", "nps")


def load_health(
    session: Session, *, account_ids: Iterable[int] | None = None, since: date | None = None
) -> pd.DataFrame:
    """`customer_health` snapshots, oldest first per account."""
    stmt = select(*(_raw(getattr(CustomerHealth, name), name) for name in HEALTH_COLUMNS))
    if account_ids is not None:
        stmt = stmt.where(CustomerHealth.account_id.in_(sorted(set(account_ids))))
    if since is not None:
        stmt = stmt.where(CustomerHealth.date >= since)
    return _execute(session, stmt.order_by(CustomerHealth.account_id, CustomerHealth.date), HEALTH_COLUMNS)


ACCOUNT_COLUMNS = ("id", "crm_id", "name", "segment", "industry", "region", "owner_id", "is_target_account")


def load_accounts(
    session: Session,
    scope: Scope | None,
    *,
    account_ids: Iterable[int] | None = None,
    target_only: bool = False,
) -> pd.DataFrame:
    """Accounts in scope (owned by the scope's owners; `None` or everyone means all)."""
    stmt = _scoped(select(*(_raw(getattr(Account, name), name) for name in ACCOUNT_COLUMNS)), scope, Account.owner_id)
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(sorted(set(account_ids))))
    if target_only:
        stmt = stmt.where(Account.is_target_account == true())
    return _execute(session, stmt.order_by(Account.id), ACCOUNT_COLUMNS)


# --- people and teams ------------------------------------------------------------------------


def find_users(session: Session, text: str, limit: int = 10) -> list[User]:
    """Users by exact email, Slack id or CRM id, else by case-insensitive name substring."""
    needle = text.strip().lstrip("@")
    if not needle:
        return []
    lowered = needle.lower()
    exact = session.scalars(
        select(User)
        .where(or_(func.lower(User.email) == lowered, User.slack_user_id == needle, User.crm_id == needle))
        .limit(limit)
    ).all()
    if exact:
        return list(exact)
    pattern = f"%{_escape_like(lowered)}%"
    return list(
        session.scalars(
            select(User).where(func.lower(User.name).like(pattern, escape="\\")).order_by(User.name).limit(limit)
        ).all()
    )


def find_team(session: Session, name: str) -> Team | None:
    """A team by case-insensitive name; a unique prefix is enough ("emea" finds "EMEA Enterprise")."""
    lowered = " ".join(name.split()).lower()
    if not lowered:
        return None
    exact = session.scalars(select(Team).where(func.lower(Team.name) == lowered)).first()
    if exact is not None:
        return exact
    pattern = f"{_escape_like(lowered)}%"
    candidates = session.scalars(select(Team).where(func.lower(Team.name).like(pattern, escape="\\")).limit(2)).all()
    return candidates[0] if len(candidates) == 1 else None


def find_accounts(session: Session, scope: Scope | None, text: str, limit: int = 10) -> list[Account]:
    """Accounts in scope by exact CRM id or name, then case-insensitive name substring (shortest first)."""
    needle = text.strip()
    if not needle:
        return []
    lowered = needle.lower()
    base = _scoped(select(Account), scope, Account.owner_id)
    exact = session.scalars(
        base.where(or_(func.lower(Account.name) == lowered, func.lower(Account.crm_id) == lowered)).limit(limit)
    ).all()
    if exact:
        return list(exact)
    pattern = f"%{_escape_like(lowered)}%"
    stmt = (
        base.where(func.lower(Account.name).like(pattern, escape="\\"))
        .order_by(func.length(Account.name), Account.name)
        .limit(limit)
    )
    return list(session.scalars(stmt).all())


def find_account(session: Session, scope: Scope | None, text: str) -> Account | None:
    """The one account `text` names: an exact match, or the only substring match; else None."""
    matches = find_accounts(session, scope, text, limit=2)
    if len(matches) == 1:
        return matches[0]
    lowered = text.strip().lower()
    exact = [a for a in matches if a.name.lower() == lowered or (a.crm_id or "").lower() == lowered]
    return exact[0] if len(exact) == 1 else None


def team_member_ids(session: Session, team_id: int) -> set[int]:
    return set(session.scalars(select(User.id).where(User.team_id == team_id)).all())


def reports_of(session: Session, manager_id: int) -> set[int]:
    """Everyone who reports to `manager_id`, directly or through other managers (not the manager)."""
    edges = session.execute(select(User.id, User.manager_id).where(User.manager_id.is_not(None))).all()
    children: dict[int, list[int]] = {}
    for user_id, boss_id in edges:
        children.setdefault(boss_id, []).append(user_id)
    found: set[int] = set()
    frontier = [manager_id]
    while frontier:
        boss = frontier.pop()
        for user_id in children.get(boss, ()):
            if user_id not in found and user_id != manager_id:
                found.add(user_id)
                frontier.append(user_id)
    return found


USER_COLUMNS = ("id", "name", "email", "team_id", "role", "manager_id")


def load_users(session: Session, *, user_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Users with their team: for roll-ups and leaderboards (`team_name` joined in)."""
    stmt = select(*(_raw(getattr(User, name), name) for name in USER_COLUMNS), _raw(Team.name, "team_name")).outerjoin(
        Team, Team.id == User.team_id
    )
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(sorted(set(user_ids))))
    return _execute(session, stmt.order_by(User.id), (*USER_COLUMNS, "team_name"))


# --- SQL aggregates (GROUP BY in the database; for org-wide questions) -----------------------


def pipeline_by_stage_sql(
    session: Session, scope: Scope, *, close_date_between: DateRange | None = None
) -> pd.DataFrame:
    """Open deals grouped in SQL: columns stage, currency, count, amount (own currency).
    Feed it to `metrics.pipeline.by_stage_from_aggregate` for reporting currency and weighting."""
    stmt = select(
        _raw(Deal.stage, "stage"),
        _raw(Deal.currency, "currency"),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    )
    if close_date_between is None:  # every open deal: for the whole org, a scan of the covering index
        stmt = stmt.where(_open_deals(session, scope), Deal.removed_at.is_(None))
    else:  # a close-date range of the open deals' index
        stmt = stmt.where(Deal.is_closed == false(), Deal.removed_at.is_(None),
                          Deal.close_date.between(*_bounds(close_date_between)))
    stmt = _scoped(stmt, scope, Deal.owner_id)
    stmt = stmt.group_by(Deal.stage, Deal.currency).order_by(Deal.stage, Deal.currency)
    return _execute(session, stmt, ("stage", "currency", "count", "amount"))


def deals_by_owner_sql(
    session: Session,
    scope: Scope,
    *,
    open_only: bool = False,
    won_only: bool = False,
    close_date_between: DateRange | None = None,
) -> pd.DataFrame:
    """Deals grouped by owner and currency in SQL: owner_id, currency, count, amount.
    `won_only` + `close_date_between` is closed-won per owner in a period; `open_only` + range is
    the open pipeline closing in it."""
    stmt = select(
        _raw(Deal.owner_id, "owner_id"),
        _raw(Deal.currency, "currency"),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(Deal.removed_at.is_(None))
    stmt = _scoped(stmt, scope, Deal.owner_id)
    if open_only:
        stmt = stmt.where(Deal.is_closed == false())
    if won_only:
        stmt = stmt.where(Deal.is_closed == true(), Deal.is_won == true())
    if close_date_between is not None:
        stmt = stmt.where(Deal.close_date.between(*_bounds(close_date_between)))
        if scope.is_everyone and session.get_bind().dialect.name == "sqlite":
            return _execute(session, _per_owner_seeks(stmt), ("owner_id", "currency", "count", "amount"))
    stmt = stmt.group_by(Deal.owner_id, Deal.currency).order_by(Deal.owner_id, Deal.currency)
    return _execute(session, stmt, ("owner_id", "currency", "count", "amount"))


def _per_owner_seeks(stmt: Select[Any]) -> CompoundSelect:
    """`stmt` (one owner's deals in a close-date range, whole org) grouped by owner and currency as two
    arms: every user's deals, one seek of the covering owner index (owner, is_closed, close_date …)
    each, and the deals without an owner. SQLite otherwise reads the range through the
    (is_closed, close_date) index and looks each deal up in the table: 5-8x the CPU on 1M deals."""
    arms = (stmt.where(Deal.owner_id.in_(select(User.id))), stmt.where(Deal.owner_id.is_(None)))
    grouped = [arm.group_by(Deal.owner_id, Deal.currency) for arm in arms]
    return union_all(*grouped).order_by(text("owner_id"), text("currency"))


def closed_won_sql(session: Session, scope: Scope, period: DateRange) -> pd.DataFrame:
    """Closed-won in a period, grouped by currency in SQL: currency, count, amount."""
    stmt = select(
        _raw(Deal.currency, "currency"),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(
        Deal.removed_at.is_(None),
        Deal.is_closed == true(),
        Deal.is_won == true(),
        Deal.close_date.between(*_bounds(period)),
    )
    stmt = _scoped(stmt, scope, Deal.owner_id).group_by(Deal.currency).order_by(Deal.currency)
    return _execute(session, stmt, ("currency", "count", "amount"))


def forecast_sql(session: Session, scope: Scope, period: DateRange) -> pd.DataFrame:
    """Deals closing in the period grouped by what the forecast needs: stage, forecast_category,
    is_closed, is_won, currency, count, amount. Feed to `metrics.revenue.forecast_from_aggregate`."""
    stmt = select(
        _raw(Deal.stage, "stage"),
        _raw(Deal.forecast_category, "forecast_category"),
        _raw(Deal.is_closed, "is_closed"),
        _raw(Deal.is_won, "is_won"),
        _raw(Deal.currency, "currency"),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(Deal.removed_at.is_(None), Deal.close_date.between(*_bounds(period)))
    stmt = _scoped(stmt, scope, Deal.owner_id).group_by(
        Deal.stage, Deal.forecast_category, Deal.is_closed, Deal.is_won, Deal.currency
    )
    return _execute(session, stmt, ("stage", "forecast_category", "is_closed", "is_won", "currency", "count", "amount"))


def deal_rollup_sql(session: Session, scope: Scope, period: DateRange) -> pd.DataFrame:
    """One pass over the deals that matter for a period, grouped in SQL: owner_id, stage, currency,
    is_closed, is_won, in_period (close date in the period), count, amount. Covers every open deal
    and every deal closing in the period, so the org-wide pipeline by stage, closed-won per owner and
    open pipeline closing in the period per owner all come from this one query
    (`metrics.pipeline.by_stage_from_aggregate`, `metrics.revenue.attainment_by_team`)."""
    start, end = _bounds(period)
    in_period = Deal.close_date.between(start, end)
    flag = case((in_period, 1), else_=0)
    stmt = select(
        _raw(Deal.owner_id, "owner_id"),
        _raw(Deal.stage, "stage"),
        _raw(Deal.currency, "currency"),
        _raw(Deal.is_closed, "is_closed"),
        _raw(Deal.is_won, "is_won"),
        _raw(flag, "in_period"),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(Deal.removed_at.is_(None), or_(Deal.is_closed == false(), in_period))
    stmt = _scoped(stmt, scope, Deal.owner_id).group_by(
        Deal.owner_id, Deal.stage, Deal.currency, Deal.is_closed, Deal.is_won, flag
    )
    frame = _execute(
        session, stmt, ("owner_id", "stage", "currency", "is_closed", "is_won", "in_period", "count", "amount")
    )
    frame["in_period"] = frame["in_period"].astype(bool)
    return frame


# --- the /pipeline fast path: numbers from one GROUP BY, rows only for the lists shown ---------


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def _stalled_shape(stages: tuple[str, ...]) -> ColumnElement[bool]:
    """SQL for `metrics.pipeline.stalled_deals`' rule on open deals, with the same day arithmetic:
    days since the last touch ≥ N  ⇔  last touch < midnight of (today − N + 1);
    whole days in stage > k × median  ⇔  entered < midnight of (today − ⌊k × median⌋).
    The values are parameters, `idle_before` and `entered_before_<i>` for the i-th of `stages`
    (`_stalled_params` gives both), so that per-answer statements can be built once."""
    last_touch = func.coalesce(Deal.last_activity_at, Deal.created_at)
    idle = last_touch < bindparam("idle_before", type_=DateTime())
    if not stages:
        return idle
    # One lookup of the deal's own stage (NULL, so false, for stages without a median) instead of
    # an OR over every stage: a third less work per row in a rep's /pipeline.
    whens = {stage: bindparam(f"entered_before_{i}", type_=DateTime()) for i, stage in enumerate(stages)}
    return or_(idle, Deal.stage_entered_at < case(whens, value=Deal.stage))


def _stalled_params(
    today: date, rules: PipelineRules, stage_medians: Mapping[str, float]
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The stages with a usable median and the rule's values: the last touch before which a deal
    is idle, and per stage the entry time before which a deal has been in it too long."""
    entered_before = {
        stage: _midnight(today - timedelta(days=math.floor(k_median)))
        for stage, median in sorted(stage_medians.items())
        if median and median > 0 and (k_median := rules.stalled_stage_multiple * median) < 36_500
    }
    params: dict[str, Any] = {"idle_before": _midnight(today - timedelta(days=rules.stalled_after_days - 1))}
    params.update({f"entered_before_{i}": at for i, at in enumerate(entered_before.values())})
    return tuple(entered_before), params


class PipelineGroup(NamedTuple):
    """One group of `pipeline_groups_sql`: deals alike in every key and flag, with their count and
    summed amount (own currency). Plain tuples, so a rep's /pipeline numbers need no pandas."""

    stage: str | None
    forecast_category: str | None
    currency: str | None
    is_closed: bool
    is_won: bool
    closing: bool  # close date in the period
    created: bool  # created in the period
    past_due: bool  # open, close date before today
    stalled: bool  # open and `_stalled_shape`
    count: int
    amount: float


PIPELINE_GROUP_COLUMNS: tuple[str, ...] = PipelineGroup._fields
_FLAG_COLUMNS = ("closing", "created", "past_due", "stalled")


def pipeline_groups_sql(
    session: Session,
    scope: Scope,
    period: DateRange,
    *,
    today: date,
    rules: PipelineRules,
    stage_medians: Mapping[str, float],
) -> list[PipelineGroup]:
    """Every number of `metrics.pipeline.pipeline_summary`, attainment and forecast for one scope and
    period, grouped in SQL by stage, forecast_category, currency, is_closed, is_won and the four
    flags. Covers the deals `load_pipeline_deals` loads (plus closed deals dated after the period,
    which no flag counts). Feed to `metrics.pipeline.summary_from_groups`."""
    start, end = _bounds(period)
    stages, params = _stalled_params(today, rules, stage_medians)
    params.update(_scope_params(scope), start=start, end=end, today=today, created_from=_day_start(start),
                  created_to=_day_start(end) + timedelta(days=1))  # fmt: skip
    return [
        _pipeline_group(is_closed, row)
        for is_closed, stmt in _pipeline_group_statements(_shape(session, scope), stages)
        for row in session.execute(stmt, params)
    ]


@lru_cache(maxsize=256)
def _pipeline_group_statements(shape: ScopeShape, stages: tuple[str, ...]) -> tuple[tuple[bool, Select[Any]], ...]:
    start, end = bindparam("start", type_=Date()), bindparam("end", type_=Date())
    today = bindparam("today", type_=Date())
    closing = Deal.close_date.between(start, end)
    created = and_(
        Deal.created_at >= bindparam("created_from", type_=DateTime()),
        Deal.created_at < bindparam("created_to", type_=DateTime()),
    )
    # The four flags travel as one small integer: fewer GROUP BY keys to sort on.
    closed_flags = case((closing, CLOSING), else_=0) + case((created, CREATED), else_=0)
    open_flags = (
        closed_flags
        + case((Deal.close_date < today, PAST_DUE), else_=0)
        + case((_stalled_shape(stages), STALLED), else_=0)
    )
    keys = (Deal.stage, Deal.forecast_category, Deal.currency, Deal.is_won)

    def grouped(flags: ColumnElement[int]) -> Select[Any]:
        return select(
            *(_raw(column, name) for column, name in zip(keys, ("stage", "forecast_category", "currency", "is_won"),
                                                         strict=True)),
            _raw(flags, "flags"),
            _raw(func.count(), "count"),
            _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
        ).group_by(*keys, flags)

    # Two statements, each one index range of ix_deals_owner_open: open deals, and deals closed since
    # the period started (a closed deal created in the period closed on or after its start). As one
    # `open OR closed-since` filter the planner reads every deal the owner ever had.
    ranges = (
        (False, grouped(open_flags).where(Deal.removed_at.is_(None), _open_deals_shape(shape))),
        (True, grouped(closed_flags).where(
            Deal.removed_at.is_(None), Deal.is_closed == true(), Deal.close_date >= start
        )),
    )
    return tuple((is_closed, _scoped_shape(stmt, shape, Deal.owner_id)) for is_closed, stmt in ranges)


CLOSING, CREATED, PAST_DUE, STALLED = 1, 2, 4, 8


def _pipeline_group(is_closed: bool, row: Sequence[Any]) -> PipelineGroup:
    stage, category, currency, is_won, flags, count, amount = row
    flags = int(flags)
    return PipelineGroup(
        stage,
        category,
        currency,
        is_closed,
        bool(is_won),
        bool(flags & CLOSING),
        bool(flags & CREATED),
        bool(flags & PAST_DUE),
        bool(flags & STALLED),
        int(count),
        float(amount or 0),
    )


def pipeline_rollup_sql(
    session: Session,
    scope: Scope,
    period: DateRange,
    *,
    today: date,
    rules: PipelineRules,
    stage_medians: Mapping[str, float],
) -> pd.DataFrame:
    """`pipeline_groups_sql` as a DataFrame (columns `PIPELINE_GROUP_COLUMNS`), for the callers that
    slice groups with pandas (digests). Feed to `metrics.pipeline.summary_from_rollup`."""
    groups = pipeline_groups_sql(session, scope, period, today=today, rules=rules, stage_medians=stage_medians)
    frame = _frame(groups, PIPELINE_GROUP_COLUMNS)
    for name in _FLAG_COLUMNS:
        frame[name] = frame[name].astype(bool)
    return frame


def open_stage_ages_sql(session: Session, scope: Scope) -> pd.DataFrame:
    """stage, stage_entered_at of the open deals in scope (two narrow columns): for
    `metrics.pipeline.stage_age_medians` when no history medians are at hand."""
    stmt = select(_raw(Deal.stage, "stage"), _raw(Deal.stage_entered_at, "stage_entered_at")).where(
        Deal.removed_at.is_(None), Deal.is_closed == false(), Deal.stage_entered_at.is_not(None)
    )
    return _execute(session, _scoped(stmt, scope, Deal.owner_id), ("stage", "stage_entered_at"))


def past_due_rows_sql(
    session: Session, scope: Scope, *, today: date, limit: int = 50, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The `limit` most overdue open deals in scope (close date before today), most overdue first."""
    names = tuple(columns or DEAL_COLUMNS)
    stmt = _scoped(_deals_select(names), scope, Deal.owner_id).where(Deal.is_closed == false(), Deal.close_date < today)
    return _execute(session, stmt.order_by(Deal.close_date, Deal.amount.desc(), Deal.id).limit(limit), names)


def stalled_rows_sql(
    session: Session,
    scope: Scope,
    *,
    today: date,
    rules: PipelineRules,
    stage_medians: Mapping[str, float],
    limit: int = 50,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The `limit` biggest stalled open deals in scope (see `_stalled_shape`), biggest first."""
    names = tuple(columns or DEAL_COLUMNS)
    stages, params = _stalled_params(today, rules, stage_medians)
    stmt = _scoped(_deals_select(names), scope, Deal.owner_id).where(
        Deal.is_closed == false(), _stalled_shape(stages)
    )
    return _execute(session, stmt.order_by(Deal.amount.desc(), Deal.id).limit(limit).params(params), names)


# --- slash commands: the few rows a reply lists, ranked in SQL in the reporting currency -------


def _amount_rc(fx_rates: Mapping[str, float]) -> ColumnElement[Any]:
    """amount × its currency's rate to the reporting currency (`RevbotConfig.fx_rates`; other
    currencies, including the reporting one, count 1:1), so that `ORDER BY … LIMIT n` in SQL picks
    the same top rows as sorting the converted amounts in pandas."""
    whens = [(Deal.currency == code, Deal.amount * rate) for code, rate in sorted(fx_rates.items())]
    return case(*whens, else_=Deal.amount) if whens else Deal.amount


def top_stalled_rows_sql(
    session: Session,
    scope: Scope,
    *,
    today: date,
    rules: PipelineRules,
    stage_medians: Mapping[str, float],
    fx_rates: Mapping[str, float],
    limit: int,
) -> list[dict[str, Any]]:
    """The `limit` biggest stalled open deals in scope (`_stalled_shape`), biggest in the reporting
    currency first, as `metrics.pipeline.stalled_deals` ranks them, as `deal_records`. Count them
    with the rollup."""
    stages, params = _stalled_params(today, rules, stage_medians)
    ranked = _top_stalled_statement(_shape(session, scope), stages, _fx_key(fx_rates), limit)
    return _top_rows(session, ranked, {**params, **_scope_params(scope)})


def top_past_due_rows_sql(
    session: Session, scope: Scope, *, today: date, fx_rates: Mapping[str, float], limit: int
) -> list[dict[str, Any]]:
    """The `limit` most overdue open deals in scope, ranked as `metrics.pipeline.past_due_deals` does
    (oldest close date first, then biggest in the reporting currency), as `deal_records`."""
    ranked = _top_past_due_statement(_shape(session, scope), _fx_key(fx_rates), limit)
    return _top_rows(session, ranked, {"today": today, **_scope_params(scope)})


def _fx_key(fx_rates: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(fx_rates.items()))


@lru_cache(maxsize=256)
def _top_stalled_statement(
    shape: ScopeShape, stages: tuple[str, ...], fx: tuple[tuple[str, float], ...], limit: int
) -> Select[Any]:
    ranked = _scoped_shape(select(Deal.id), shape, Deal.owner_id).where(
        Deal.removed_at.is_(None), _open_deals_shape(shape), _stalled_shape(stages)
    )
    return ranked.order_by(_amount_rc(dict(fx)).desc(), Deal.id).limit(limit)


@lru_cache(maxsize=256)
def _top_past_due_statement(shape: ScopeShape, fx: tuple[tuple[str, float], ...], limit: int) -> Select[Any]:
    ranked = _scoped_shape(select(Deal.id), shape, Deal.owner_id).where(
        Deal.removed_at.is_(None), Deal.is_closed == false(), Deal.close_date < bindparam("today", type_=Date())
    )
    return ranked.order_by(Deal.close_date, _amount_rc(dict(fx)).desc(), Deal.id).limit(limit)


def _top_rows(session: Session, ranked_ids: Select[Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Ranking on ids alone lets SQL rank from the covering owner index; names and joins are read
    for the few winners only."""
    return deal_records(session, list(session.scalars(ranked_ids, params)))


def deal_records(session: Session, deal_ids: Sequence[int]) -> list[dict[str, Any]]:
    """`DEAL_COLUMNS` of a few deals as plain dicts, in the order of `deal_ids` (soft-deleted ones
    left out), with Python values: dates as `date`, timestamps as naive UTC `datetime`, amounts as
    float, missing values as None. For replies that list a handful of deals: no pandas."""
    if not deal_ids:
        return []
    found = {row.id: dict(row._mapping) for row in session.execute(_deal_records_statement(),
                                                                   {"ids": sorted(set(deal_ids))})}
    records = [found[i] for i in deal_ids if i in found]
    for record in records:
        record["amount"] = float(record["amount"] or 0)
        record["probability"] = None if record["probability"] is None else float(record["probability"])
        record["is_closed"], record["is_won"] = bool(record["is_closed"]), bool(record["is_won"])
    return records


@lru_cache(maxsize=1)
def _deal_records_statement() -> Select[Any]:
    stmt = select(*(_deal_column(name).label(name) for name in DEAL_COLUMNS)).select_from(Deal)
    stmt = stmt.outerjoin(Account, Account.id == Deal.account_id).outerjoin(User, User.id == Deal.owner_id)
    return stmt.where(Deal.removed_at.is_(None), Deal.id.in_(bindparam("ids", expanding=True)))


def stage_age_medians_sql(session: Session, scope: Scope, *, today: date) -> dict[str, float]:
    """`metrics.pipeline.stage_age_medians` of the open deals in scope: their stage and entry time,
    two narrow columns (a whole org's 200k open deals in well under a second), sorted per stage in
    Python. Asking SQL for each stage's middle rows instead (`ORDER BY … OFFSET`) cost a pass over
    every deal per stage: 14 s for a million-deal org."""
    entries: dict[str, list[Any]] = {}
    for stage, entered in session.execute(_stage_entries_statement(_shape(session, scope)), _scope_params(scope)):
        if stage is not None:
            entries.setdefault(str(stage), []).append(entered)
    return {stage: _mean_days_since(_middle(sorted(values)), today) for stage, values in entries.items()}


@lru_cache(maxsize=16)
def _stage_entries_statement(shape: ScopeShape) -> Select[Any]:
    stmt = select(Deal.stage, _raw(Deal.stage_entered_at, "stage_entered_at")).where(
        Deal.removed_at.is_(None), _open_deals_shape(shape), Deal.stage_entered_at.is_not(None)
    )
    return _scoped_shape(stmt, shape, Deal.owner_id)


def _open_deals(session: Session, scope: Scope) -> ColumnElement[bool]:
    return _open_deals_shape(_shape(session, scope))


def _open_deals_shape(shape: ScopeShape) -> ColumnElement[bool]:
    """`is_closed` is false. For the whole org on SQLite, written `+is_closed = 0`: otherwise the
    planner reads the open deals through the `is_closed` index and looks every one of them up in
    the table (200k lookups), where scanning the covering owner index is three times faster."""
    if shape.kind == "everyone" and shape.dialect == "sqlite":
        return text("+deals.is_closed = 0")
    return Deal.is_closed == false()


def _middle(ordered: list[Any]) -> list[Any]:
    low, high = (len(ordered) - 1) // 2, len(ordered) // 2
    return ordered[low : high + 1]


def _mean_days_since(entered: list[Any], today: date) -> float:
    """Mean whole days from each entry's calendar day to `today` (NaN when none parses), as pandas'
    `(Timestamp(today) - to_datetime(entered).dt.normalize()).dt.days.mean()` gives."""
    days = [(today - day).days for day in map(_calendar_day, entered) if day is not None]
    return sum(days) / len(days) if days else math.nan


def _calendar_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        return None


def pipeline_owner_ids_sql(session: Session, scope: Scope, period: DateRange) -> set[int]:
    """Owners of the deals `load_pipeline_deals` would load (open, closed in the period, created in
    it), read from the index ranges `pipeline_groups_sql` uses instead of loading the deals: open
    deals, then deals closed since the period started (a closed deal created in the period closed
    after its start). As one `open OR …` filter it read every deal the org ever had."""
    start, end = _bounds(period)
    kinds = (
        Deal.is_closed == false(),
        and_(
            Deal.is_closed == true(),
            Deal.close_date >= start,
            or_(Deal.close_date <= end, _timestamp_between(Deal.created_at, (start, end))),
        ),
    )
    if scope.is_everyone and session.get_bind().dialect.name == "sqlite":
        # Each user asked "do you have such a deal?": one seek of the covering owner index each,
        # instead of reading every open deal (and every one closed since the start) for their owners.
        has = [exists().where(Deal.owner_id == User.id, Deal.removed_at.is_(None), kind) for kind in kinds]
        return set(session.scalars(select(User.id).where(or_(*has))))
    owners = select(Deal.owner_id).distinct().where(Deal.removed_at.is_(None), Deal.owner_id.is_not(None))
    ranges = (owners.where(_open_deals(session, scope)), owners.where(kinds[1]))
    return {int(owner) for stmt in ranges for owner in session.scalars(_scoped(stmt, scope, Deal.owner_id))}
