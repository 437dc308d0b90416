"""SQL for the digests and alerts: aggregates grouped in the database, and the few narrow row sets
the digests and alert rules still read.

The weekly digests (Monday and every team's) are computed from a handful of GROUP BY queries over
the whole org, grouped by owner, so a run sums each team's owners in memory instead of loading
hundreds of thousands of deal rows (docs/benchmarks.md, "Digests and alerts"). Money is summed in
whole cents of the reporting currency, each deal converted and rounded to the cent first, exactly
as `metrics.money.to_reporting` does per row, so the sums match the row-by-row metrics.

Frames come back with raw database values (SQLite gives date text, PostgreSQL `date` objects);
callers convert whole columns at once with pandas, which is what keeps the reads fast.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy import Date as DateType
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from storage.models import Account, CustomerHealth, Deal, DealHistory, Subscription, Target, Team, User

# --- helpers ------------------------------------------------------------------------------------


def raw(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """`column` labelled `name`, without SQLAlchemy's per-row result conversion (date parsing on
    SQLite, Decimal on PostgreSQL): pandas converts whole columns at once instead."""
    return type_coerce(column, NullType()).label(name)


def rows_frame(session: Session, stmt: Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Run `stmt` and return its rows as a DataFrame with raw values (no per-column conversion).
    Through the session's connection: plain Core rows, without the ORM's per-row result handling."""
    result = session.connection().execute(stmt)
    if all(isinstance(column.type, NullType) for column in stmt.selected_columns):
        # Every column `raw`: nothing to convert, so the driver's own tuples go to pandas. Building
        # a Row per record was most of the Python time of reading 40k-87k owner groups.
        rows = result.cursor.fetchall()
        result.close()
    else:
        # Plain tuples: pandas probes each record's attributes, and a missing attribute on a Row
        # costs an exception (a third of a big alert evaluation).
        rows = [tuple(row) for row in result.all()]
    return pd.DataFrame.from_records(rows, columns=list(columns))


def midnight(day: date | datetime) -> datetime:
    """Timestamps are compared against the start of a day (a date bound means its midnight)."""
    return day if isinstance(day, datetime) else datetime(day.year, day.month, day.day)


def scoped(stmt: Select[Any], owner_ids: Collection[int] | None, column: ColumnElement[Any]) -> Select[Any]:
    """`stmt` limited to `owner_ids` (None: everyone; empty: nothing)."""
    if owner_ids is None:
        return stmt
    if not owner_ids:
        return stmt.where(false())
    return stmt.where(column.in_(sorted(owner_ids)))


def amount_cents(fx_rates: Mapping[str, float]) -> ColumnElement[Any]:
    """A deal's amount in whole cents of the reporting currency: amount × its currency's rate,
    rounded once per deal (`metrics.money.to_reporting`); other currencies count 1:1, and callers
    check the currencies they see against the config (`RevbotConfig.fx_rate` names a missing rate)."""
    rate = case({code: literal(float(r)) for code, r in sorted(fx_rates.items())}, value=Deal.currency,
                else_=literal(1.0)) if fx_rates else literal(1.0)
    # round(x) with no digits exists for both numeric and double precision on PostgreSQL.
    return cast(func.round(func.coalesce(Deal.amount, 0) * rate * 100), BigInteger)


def _stage_probability(probabilities: Mapping[str, float]) -> ColumnElement[Any]:
    """`metrics.pipeline.stage_probabilities` in SQL: the configured probability of the stage (by
    lower-cased name), else the deal's own clipped to 0–100, else 0. One CASE on lower(stage): it
    runs for every deal of the org."""
    own = func.coalesce(Deal.probability, 0.0)
    clipped = case((own < 0, 0.0), (own > 100, 100.0), else_=own)
    if not probabilities:
        return clipped
    return case({name: literal(float(p)) for name, p in sorted(probabilities.items())}, value=func.lower(Deal.stage),
                else_=clipped)


def _days_between(session: Session, later: ColumnElement[Any], earlier_timestamp: ColumnElement[Any]
                  ) -> ColumnElement[Any]:
    """Whole days from the calendar day of a timestamp to a date column."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(later) - func.julianday(func.date(earlier_timestamp))
    return later - cast(earlier_timestamp, DateType)


def day_of(session: Session, timestamp: ColumnElement[Any]) -> ColumnElement[Any]:
    """The calendar day of a timestamp column (SQLite: 'YYYY-MM-DD' text)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(timestamp)
    return cast(timestamp, DateType)


def unindexed(session: Session, name: str, table: str = "deals") -> ColumnElement[Any]:
    """The deals column `name`, written so that SQLite will not use an index on it (`+column`).

    Every column the org-wide digest queries read is in ix_deals_owner_open (storage.models), so
    with no usable index on the filtered columns SQLite scans that covering index alone: at 1M
    deals far cheaper than an OR of three index ranges plus a table lookup per row. PostgreSQL
    plans on its own."""
    column = Deal.__table__.c[name]
    if session.get_bind().dialect.name == "sqlite":
        return literal_column(f"+{table}.{name}", type_=column.type)
    return column if table == "deals" else literal_column(f"{table}.{name}", type_=column.type)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


# --- weekly digests -------------------------------------------------------------------------------

DEAL_ROLLUP_KEYS = ("owner_id", "currency", "stage", "forecast_category", "is_closed", "is_won", "closing",
                    "created_q", "created_w", "closed_w", "past_due")
DEAL_ROLLUP_VALUES = ("count", "cents", "weighted_cents", "max_cents", "cycle_days", "cycle_deals")


def deal_rollup(
    session: Session,
    *,
    quarter: tuple[date, date],
    week: tuple[date, date],
    today: date,
    fx_rates: Mapping[str, float],
    probabilities: Mapping[str, float],
    owner_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Every deal a weekly digest counts, grouped by owner, currency, stage, forecast category,
    open/won and the digest's flags: `closing` (close date in the quarter), `created_q` / `created_w`
    (created in the quarter / the week), `closed_w` (closed with a close date in the week),
    `past_due` (open, close date before today). Per group: count, cents (reporting currency, per-deal
    rounding), weighted_cents (`round(amount_rc × stage probability)` per deal), max_cents, and for
    won deals closing in the quarter the sum and count of their sales-cycle days (close date − day
    created, at least 1). Covers the rows `storage.queries.load_pipeline_deals` loads for the span
    of the quarter and the week."""
    (q_start, q_end), (w_start, w_end) = quarter, week
    span_start, span_end = min(q_start, w_start), max(q_end, today)
    cents = amount_cents(fx_rates)
    is_open = Deal.is_closed == false()
    closing = Deal.close_date.between(q_start, q_end)
    flags = {
        "closing": _flag(closing),
        "created_q": _flag(and_(Deal.created_at >= midnight(q_start),
                                Deal.created_at < midnight(q_end + timedelta(days=1)))),
        "created_w": _flag(and_(Deal.created_at >= midnight(w_start),
                                Deal.created_at < midnight(w_end + timedelta(days=1)))),
        "closed_w": _flag(and_(Deal.is_closed == true(), Deal.close_date.between(w_start, w_end))),
        "past_due": _flag(and_(is_open, Deal.close_date < today)),
    }
    won_in_quarter = and_(Deal.is_closed == true(), Deal.is_won == true(), closing)
    days = _days_between(session, Deal.close_date, Deal.created_at)
    cycle = case((won_in_quarter, case((days < 1, 1), else_=days)), else_=None)
    keys = [Deal.owner_id, Deal.currency, Deal.stage, Deal.forecast_category, Deal.is_closed, Deal.is_won]
    stmt = select(
        *(raw(column, name) for column, name in zip(keys, DEAL_ROLLUP_KEYS, strict=False)),
        *(raw(flag, name) for name, flag in flags.items()),
        raw(func.count(), "count"),
        raw(func.sum(cents), "cents"),
        raw(func.sum(cast(func.round(cents * _stage_probability(probabilities) / 100.0), BigInteger)),
            "weighted_cents"),
        raw(func.max(cents), "max_cents"),
        raw(func.sum(cycle), "cycle_days"),
        raw(func.count(cycle), "cycle_deals"),
    ).where(
        Deal.removed_at.is_(None),
        or_(unindexed(session, "is_closed") == false(), unindexed(session, "close_date").between(span_start, span_end),
            and_(unindexed(session, "created_at") >= midnight(span_start),
                 unindexed(session, "created_at") < midnight(span_end + timedelta(days=1)))),
    )
    stmt = scoped(stmt, owner_ids, Deal.owner_id).group_by(*keys, *flags.values())
    frame = rows_frame(session, stmt, (*DEAL_ROLLUP_KEYS, *DEAL_ROLLUP_VALUES))
    for name in ("is_closed", "is_won", *flags):
        frame[name] = frame[name].fillna(False).astype(bool)
    for name in ("count", "cents", "weighted_cents", "max_cents", "cycle_deals"):
        frame[name] = pd.to_numeric(frame[name]).fillna(0).astype("int64")
    frame["cycle_days"] = pd.to_numeric(frame["cycle_days"]).astype("float64")
    frame["owner_id"] = pd.array(pd.to_numeric(frame["owner_id"]), dtype="Int64")
    return frame


STAGE_AGE_COLUMNS = ("owner_id", "stage", "entered_day", "idle", "count", "cents", "max_cents")


def open_stage_ages(
    session: Session,
    *,
    today: date,
    stalled_after_days: int,
    fx_rates: Mapping[str, float],
    owner_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Open deals grouped by owner, stage, the day they entered it and `idle` (no activity, or no
    creation if never touched, for `stalled_after_days`: `metrics.pipeline.stalled_deals`' rule,
    days since last touch ≥ N ⇔ touched before midnight of today − N + 1): count, cents,
    max_cents. Enough for any owner set's median days in stage and its stalled count and amount,
    whatever those medians are. `entered_day` is NaT when the stage entry time is unknown."""
    cents = amount_cents(fx_rates)
    last_touch = func.coalesce(Deal.last_activity_at, Deal.created_at)
    idle = _flag(last_touch < midnight(today - timedelta(days=stalled_after_days - 1)))
    entered = day_of(session, Deal.stage_entered_at)
    stmt = select(
        raw(Deal.owner_id, "owner_id"), raw(Deal.stage, "stage"), raw(entered, "entered_day"), raw(idle, "idle"),
        raw(func.count(), "count"), raw(func.sum(cents), "cents"), raw(func.max(cents), "max_cents"),
    ).where(Deal.removed_at.is_(None), unindexed(session, "is_closed") == false())
    stmt = scoped(stmt, owner_ids, Deal.owner_id).group_by(Deal.owner_id, Deal.stage, entered, idle)
    frame = rows_frame(session, stmt, STAGE_AGE_COLUMNS)
    frame["owner_id"] = pd.array(pd.to_numeric(frame["owner_id"]), dtype="Int64")
    frame["entered_day"] = pd.to_datetime(frame["entered_day"], errors="coerce", format="ISO8601")
    frame["idle"] = frame["idle"].fillna(False).astype(bool)
    for name in ("count", "cents", "max_cents"):
        frame[name] = pd.to_numeric(frame[name]).fillna(0).astype("int64")
    return frame


def week_changes(
    session: Session,
    *,
    since: date,
    until: date,
    stage_order: Mapping[str, int],
    fx_rates: Mapping[str, float],
    owner_ids: Collection[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last week's movement of open deals, from one read of the week's history (the rows are
    materialized once: reading them is most of the cost, each needs a table lookup for `field`):

    - advanced: deals with a stage change to a later stage (by `stage_order`; unknown stages never
      count) in [since, until), grouped by owner: owner_id, count, cents; each deal once;
    - close-date changes in [since, until), oldest first: deal_id, owner_id, cents, old_value,
      new_value (raw text: the caller parses them, a bad value never slips)."""
    def order(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case({name: i for name, i in sorted(stage_order.items())}, value=column, else_=None)

    week = select(DealHistory.id, DealHistory.deal_id, DealHistory.field, DealHistory.old_value,
                  DealHistory.new_value, DealHistory.changed_at).where(
        DealHistory.changed_at >= midnight(since), DealHistory.changed_at < midnight(until),
        DealHistory.field.in_(("stage", "close_date"))).cte("week").prefix_with("MATERIALIZED")
    # Unindexed: the week's history drives the lookups of open deals, not every open deal.
    open_deal = and_(Deal.removed_at.is_(None), unindexed(session, "is_closed") == false())
    cents = amount_cents(fx_rates)
    moved = select(week.c.deal_id).where(week.c.field == "stage", order(week.c.new_value) > order(week.c.old_value))
    advanced = scoped(select(
        # Typed NULLs: PostgreSQL matches the UNION's column types against the second branch.
        literal("advanced", String).label("kind"), cast(null(), Integer).label("deal_id"),
        Deal.owner_id.label("owner_id"), func.count().label("count"), func.sum(cents).label("cents"),
        cast(null(), String).label("old_value"), cast(null(), String).label("new_value"),
        cast(null(), DateTime).label("changed_at"), cast(null(), Integer).label("history_id"),
    ).where(open_deal, Deal.id.in_(moved)), owner_ids, Deal.owner_id).group_by(Deal.owner_id)
    slipped = scoped(select(
        literal("close_date", String), week.c.deal_id, Deal.owner_id, literal(1, Integer), cents, week.c.old_value,
        week.c.new_value,
        week.c.changed_at, week.c.id,
    ).join(Deal, Deal.id == week.c.deal_id).where(open_deal, week.c.field == "close_date"), owner_ids, Deal.owner_id)
    columns = ("kind", "deal_id", "owner_id", "count", "cents", "old_value", "new_value", "changed_at", "history_id")
    stmt = select(*(raw(literal_column(name), name) for name in columns)).select_from(
        advanced.union_all(slipped).subquery())
    frame = rows_frame(session, stmt, columns)
    is_advance = (frame["kind"] == "advanced").to_numpy(dtype=bool)
    moves = _owner_sums(frame.loc[is_advance, ["owner_id", "count", "cents"]].reset_index(drop=True))
    changes = frame.loc[~is_advance].sort_values(["changed_at", "history_id"], kind="stable")
    changes = changes[["deal_id", "owner_id", "cents", "old_value", "new_value"]].reset_index(drop=True)
    changes["deal_id"] = pd.to_numeric(changes["deal_id"]).astype("int64")
    changes["owner_id"] = pd.array(pd.to_numeric(changes["owner_id"]), dtype="Int64")
    changes["cents"] = pd.to_numeric(changes["cents"]).fillna(0).astype("int64")
    return moves, changes


def won_by_day(
    session: Session, *, start: date, end: date, fx_rates: Mapping[str, float],
    owner_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Closed-won with a close date in [start, end], grouped by owner and close date: owner_id,
    close_date (datetime64), cents."""
    stmt = select(raw(Deal.owner_id, "owner_id"), raw(Deal.close_date, "close_date"),
                  raw(func.sum(amount_cents(fx_rates)), "cents")).where(
        Deal.removed_at.is_(None), Deal.is_closed == true(), Deal.is_won == true(), Deal.close_date.between(start, end))
    stmt = scoped(stmt, owner_ids, Deal.owner_id).group_by(Deal.owner_id, Deal.close_date)
    frame = rows_frame(session, stmt, ("owner_id", "close_date", "cents"))
    frame["owner_id"] = pd.array(pd.to_numeric(frame["owner_id"]), dtype="Int64")
    frame["close_date"] = pd.to_datetime(frame["close_date"], format="ISO8601")
    frame["cents"] = pd.to_numeric(frame["cents"]).fillna(0).astype("int64")
    return frame


def open_deal_amounts(
    session: Session, *, min_cents: int | None, every_deal_of: Collection[int] | None, fx_rates: Mapping[str, float],
    owner_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """id, owner_id and cents of the open deals worth at least `min_cents`, plus every open deal of
    the owners in `every_deal_of` (None: of everyone): the candidates for digests' top-deal and risk
    lists, read from the covering index alone, so the caller can keep each owner's own candidates
    before whole rows are read for a handful of them."""
    cents = amount_cents(fx_rates)
    stmt = select(raw(Deal.id, "id"), raw(Deal.owner_id, "owner_id"), raw(cents, "cents")).where(
        Deal.removed_at.is_(None), unindexed(session, "is_closed") == false())
    if every_deal_of is not None:
        wanted = [cents >= min_cents] if min_cents is not None else []
        if every_deal_of:
            wanted.append(Deal.owner_id.in_(sorted(every_deal_of)))
        stmt = stmt.where(or_(*wanted) if wanted else false())
    frame = rows_frame(session, scoped(stmt, owner_ids, Deal.owner_id), ("id", "owner_id", "cents"))
    frame["id"] = pd.to_numeric(frame["id"]).astype("int64")
    frame["owner_id"] = pd.to_numeric(frame["owner_id"]).astype("float64")
    frame["cents"] = pd.to_numeric(frame["cents"]).fillna(0).astype("int64")
    return frame


def _owner_sums(frame: pd.DataFrame) -> pd.DataFrame:
    frame["owner_id"] = pd.array(pd.to_numeric(frame["owner_id"]), dtype="Int64")
    for name in ("count", "cents"):
        frame[name] = pd.to_numeric(frame[name]).fillna(0).astype("int64")
    return frame


# --- retention summary ------------------------------------------------------------------------------

RETENTION_TOTALS = ("before", "now", "base", "base_now", "base_kept", "churned")


def retention_totals(session: Session, *, start: date, today: date, fx_rates: Mapping[str, float]
                     ) -> dict[str, int]:
    """MRR per account on `start` and on `today` (subscription-row semantics of storage.models:
    start_date <= day and (active or day < end_date)), in cents of the reporting currency with
    per-row rounding, summed in SQL to: before, now (all accounts); base (accounts paying on
    `start`), base_now (their MRR today), base_kept (today's MRR capped at `start`'s), churned
    (base accounts paying nothing today). Every sum in whole cents."""
    whens = [(Subscription.currency == code, Subscription.mrr * rate) for code, rate in sorted(fx_rates.items())]
    converted = case(*whens, else_=Subscription.mrr) if whens else Subscription.mrr
    cents = cast(func.round(func.coalesce(converted, 0) * 100), BigInteger)

    def paying_on(day: date) -> ColumnElement[bool]:
        return and_(Subscription.start_date <= day, or_(Subscription.status == "active", Subscription.end_date > day))

    per_account = select(
        Subscription.account_id.label("account_id"),
        func.sum(case((paying_on(start), cents), else_=0)).label("before"),
        func.sum(case((paying_on(today), cents), else_=0)).label("now"),
    ).where(Subscription.start_date <= today,
            or_(Subscription.status == "active", Subscription.end_date > start)).group_by(
        Subscription.account_id).subquery()
    before, now = per_account.c.before, per_account.c.now
    in_base = before > 0
    stmt = select(
        raw(func.coalesce(func.sum(before), 0), "before"),
        raw(func.coalesce(func.sum(now), 0), "now"),
        raw(func.coalesce(func.sum(case((in_base, before), else_=0)), 0), "base"),
        raw(func.coalesce(func.sum(case((in_base, now), else_=0)), 0), "base_now"),
        raw(func.coalesce(func.sum(case((in_base, case((now < before, now), else_=before)), else_=0)), 0),
            "base_kept"),
        raw(func.coalesce(func.sum(case((and_(in_base, now <= 0), 1), else_=0)), 0), "churned"),
    )
    row = session.execute(stmt).one()
    return {name: int(value) for name, value in zip(RETENTION_TOTALS, row, strict=True)}


def subscription_currencies(session: Session) -> list[str | None]:
    return list(session.scalars(select(Subscription.currency).distinct()))


def has_subscriptions(session: Session) -> bool:
    return session.execute(select(Subscription.id).limit(1)).first() is not None


# --- alerts ------------------------------------------------------------------------------------------

HISTORY_COLUMNS = ("deal_id", "field", "old_value", "new_value", "changed_at")


def history_since(session: Session, *, since: datetime, owner_ids: Collection[int] | None = None,
                  only: ColumnElement[bool] | None = None) -> pd.DataFrame:
    """Changes (stage, amount, close date, ...) observed since `since` on deals not removed (and
    matching `only`, e.g. `alert_changes`): raw columns, `changed_at` converted once."""
    stmt = select(*(raw(getattr(DealHistory, c), c) for c in HISTORY_COLUMNS)).join(
        Deal, Deal.id == DealHistory.deal_id).where(DealHistory.changed_at >= since, Deal.removed_at.is_(None))
    if only is not None:
        stmt = stmt.where(only)
    frame = rows_frame(session, scoped(stmt, owner_ids, Deal.owner_id), HISTORY_COLUMNS)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], format="ISO8601")
    return frame


RENEWAL_COLUMNS = ("account_id", "mrr", "currency", "end_date", "account_name", "owner_id", "crm_id")


def renewing_subscriptions(session: Session, *, today: date, until: date | datetime,
                           owner_ids: Collection[int] | None = None) -> pd.DataFrame:
    """Active subscription rows ending in [today, until], with their account's name, owner and CRM
    id: raw columns."""
    stmt = select(
        *(raw(c, c.key) for c in (Subscription.account_id, Subscription.mrr, Subscription.currency,
                                   Subscription.end_date)),
        raw(Account.name, "account_name"), raw(Account.owner_id, "owner_id"), raw(Account.crm_id, "crm_id"),
    ).join(Account, Account.id == Subscription.account_id).where(
        Subscription.status == "active", Subscription.end_date >= today, Subscription.end_date <= until)
    return rows_frame(session, scoped(stmt, owner_ids, Account.owner_id), RENEWAL_COLUMNS)


HEALTH_COLUMNS = ("account_id", "date", "health_score", "usage", "open_tickets", "nps")


def renewing_account_ids(*, today: date, until: date) -> Select[Any]:
    """The accounts with an active subscription ending in [today, until], as a subquery."""
    return select(Subscription.account_id).where(
        Subscription.status == "active", Subscription.end_date >= today, Subscription.end_date <= until)


def health_since(session: Session, accounts: Sequence[int] | Select[Any], *, since: date,
                 ends_only: bool = False) -> pd.DataFrame:
    """Health snapshots of `accounts` (ids, or a subquery of them) since `since`: raw columns,
    `date` converted once.

    `ends_only`: for an account whose readings in the window are all present (no NULL in any
    column), only its first and last snapshot; every snapshot of the others. Enough for the first
    and last non-missing reading of each column, and a few rows per account instead of every one."""
    if not isinstance(accounts, Select) and not accounts:
        return pd.DataFrame(columns=list(HEALTH_COLUMNS))
    in_window = and_(CustomerHealth.account_id.in_(accounts), CustomerHealth.date >= since)
    stmt = select(*(raw(getattr(CustomerHealth, c), c) for c in HEALTH_COLUMNS)).where(in_window)
    if ends_only:
        rows = func.count()
        stats = select(
            CustomerHealth.account_id.label("account_id"),
            func.min(CustomerHealth.date).label("first"),
            func.max(CustomerHealth.date).label("last"),
            case((and_(*(rows == func.count(getattr(CustomerHealth, c)) for c in HEALTH_COLUMNS[2:])), 1),
                 else_=0).label("complete"),
        ).where(in_window).group_by(CustomerHealth.account_id).subquery()
        stmt = stmt.join(stats, stats.c.account_id == CustomerHealth.account_id).where(
            or_(stats.c.complete == 0, CustomerHealth.date == stats.c.first, CustomerHealth.date == stats.c.last))
    frame = rows_frame(session, stmt, HEALTH_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"], format="ISO8601")
    return frame


def bookings_targets(session: Session, start: date, end: date) -> pd.DataFrame:
    """Bookings targets overlapping [start, end]."""
    stmt = select(Target.user_id, Target.team_id, Target.period_start, Target.period_end, Target.amount).where(
        Target.metric == "bookings", Target.period_start <= end, Target.period_end >= start)
    return rows_frame(session, stmt, ("user_id", "team_id", "period_start", "period_end", "amount"))


ALERT_DEAL_COLUMNS = (
    "id", "name", "account_id", "owner_id", "amount", "currency", "stage", "forecast_category", "probability",
    "close_date", "created_at", "last_activity_at", "stage_entered_at", "is_closed", "is_won", "crm_url",
)


def alert_changes(*, since: datetime, open_stage_order: Mapping[str, int]) -> ColumnElement[bool]:
    """The history rows an alert rule reads: close-date and amount changes, and stage changes back
    to an earlier open stage (`open_stage_order`; other stage moves never alert), since `since`."""
    def order(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case({name: i for name, i in sorted(open_stage_order.items())}, value=column, else_=None)

    return and_(DealHistory.changed_at >= since, or_(
        DealHistory.field.in_(("close_date", "amount")),
        and_(DealHistory.field == "stage", order(DealHistory.old_value) > order(DealHistory.new_value)),
    ))


def alert_candidate_ids(session: Session, *, idle_before: datetime, today: date, created_since: date,
                        closed_since: date, changes: ColumnElement[bool]) -> Select[Any]:
    """The ids of the deals some alert rule can match, so a big org loads those instead of every
    open deal: a superset (the rules apply the exact tests): deals closed since `closed_since`;
    open deals untouched since `idle_before` or past their close date; deals created since
    `created_since`; deals with history rows matching `changes` (`alert_changes`). Open deals or
    deals closed since `closed_since` only, none removed.

    Tested on index columns only (`unindexed`): SQLite scans ix_deals_owner_open alone and reads
    whole rows just for the matches (at 1M deals, a third of an OR of index ranges with a table
    lookup for every open deal)."""
    table = "candidate"
    deals = Deal.__table__.alias(table)

    def column(name: str) -> ColumnElement[Any]:
        return unindexed(session, name, table)

    is_open, is_closed = column("is_closed") == false(), column("is_closed") == true()
    last_touch = func.coalesce(deals.c.last_activity_at, deals.c.created_at)
    return select(deals.c.id).where(
        deals.c.removed_at.is_(None),
        or_(is_open, column("close_date") >= closed_since),
        or_(
            and_(is_closed, column("close_date") >= closed_since),
            and_(is_open, or_(last_touch < idle_before, column("close_date") < today)),
            column("created_at") >= midnight(created_since),
            deals.c.id.in_(select(DealHistory.deal_id).where(changes)),
        ),
    )


def coverage_by_owner(session: Session, *, quarter: tuple[date, date], closed_since: date,
                      fx_rates: Mapping[str, float]) -> pd.DataFrame:
    """Per owner and currency, in the reporting currency (amount × rate, not rounded): `pipeline`, open deals
    closing in `quarter`; `won`, deals marked won closing in it that are open or closed since
    `closed_since` (the alert evaluation's window). Deals not removed."""
    rate = case({code: literal(float(r)) for code, r in sorted(fx_rates.items())}, value=Deal.currency,
                else_=literal(1.0)) if fx_rates else literal(1.0)
    amount = Deal.amount * rate
    is_open = Deal.is_closed == false()
    closing = Deal.close_date.between(*quarter)
    stmt = select(
        raw(Deal.owner_id, "owner_id"),
        raw(Deal.currency, "currency"),
        raw(func.sum(case((and_(is_open, closing), amount), else_=None)), "pipeline"),
        raw(func.sum(case((and_(Deal.is_won == true(), closing, or_(is_open, Deal.close_date >= closed_since)),
                           amount), else_=None)), "won"),
    ).where(Deal.removed_at.is_(None), unindexed(session, "close_date").between(*quarter)).group_by(
        Deal.owner_id, Deal.currency)  # unindexed: a scan of the covering index, no table lookups
    frame = rows_frame(session, stmt, ("owner_id", "currency", "pipeline", "won"))
    for name in ("pipeline", "won"):
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    return frame


def alert_deals(session: Session, ids: Select[Any]) -> pd.DataFrame:
    """The deals `ids` (e.g. `alert_candidate_ids`) with `account_name`: raw columns (the caller
    converts them once)."""
    stmt = select(*(raw(getattr(Deal, name), name) for name in ALERT_DEAL_COLUMNS),
                  raw(Account.name, "account_name")).outerjoin(
        Account, Account.id == Deal.account_id).where(Deal.id.in_(ids))
    return rows_frame(session, stmt, (*ALERT_DEAL_COLUMNS, "account_name"))


def users_and_teams(session: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every user (id, name, email, slack_user_id, team_id, role) and team (id, name,
    slack_channel_id): small tables, read whole."""
    users = rows_frame(session, select(User.id, User.name, User.email, User.slack_user_id, User.team_id, User.role),
                       ("id", "name", "email", "slack_user_id", "team_id", "role"))
    teams = rows_frame(session, select(Team.id, Team.name, Team.slack_channel_id), ("id", "name", "slack_channel_id"))
    return users, teams
