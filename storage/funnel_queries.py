"""SQL for `/funnel`: the numbers it shows, aggregated in the database instead of loading every deal
and every stage change of the scope into pandas (an exec's funnel on 1M deals read ~4M history rows).

What comes back is small and raw; `metrics.velocity` and `metrics.volume` turn it into the same
numbers their DataFrame functions compute (tests check the two paths agree):
- `deal_totals_sql`: per (lead source, currency, bucket) counts and cent sums of the "pipeline deals"
  (`storage.queries.load_pipeline_deals`: open, or closing in the period, or created in it);
- `won_cycles_sql`: a histogram of sales-cycle days of the deals won in the period;
- `stage_reach_sql`: per set of stages reached (a bit mask in funnel order), how many deals;
- `stage_stays_sql`: completed stays in open stages (stage, microseconds), for exact medians.

Money is summed in whole cents of the reporting currency, each deal converted and rounded first
(`storage.digest_queries.amount_cents`), like `metrics.money.to_reporting` does per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from storage.config import RevbotConfig
from storage.digest_queries import amount_cents
from storage.models import Deal, DealHistory
from storage.scope import Scope

# Buckets of `deal_totals_sql`; a deal counts in each that applies.
OPEN, CREATED, WON, LOST = "open", "created", "won", "lost"


def _scoped(stmt: Select[Any], scope: Scope) -> Select[Any]:
    if scope.is_everyone:
        return stmt
    if not scope.owner_ids:
        return stmt.where(false())
    return stmt.where(Deal.owner_id.in_(sorted(scope.owner_ids)))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _closed_in(start: date, end: date) -> ColumnElement[bool]:
    return and_(Deal.is_closed.is_(True), Deal.close_date.between(start, end))


def _created_in(start: date, end: date) -> ColumnElement[bool]:
    return and_(Deal.created_at >= _midnight(start), Deal.created_at < _midnight(end) + timedelta(days=1))


def _pipeline_parts(start: date, end: date) -> list[ColumnElement[bool]]:
    """The rows `load_pipeline_deals` returns (open, or closing in the period, or created in it) as
    three disjoint conditions, each a prefix of an index (owner, open flag, close date / creation):
    OR-ed, SQLite reads every deal of the scope; UNION ALL-ed, only the matching ones, mostly from
    ix_deals_owner_open without touching the table."""
    closed = Deal.is_closed.is_(True)
    outside = or_(Deal.close_date.is_(None), Deal.close_date < start, Deal.close_date > end)
    return [Deal.is_closed.is_(False), _closed_in(start, end), and_(closed, outside, _created_in(start, end))]


def _pipeline_rows(scope: Scope, start: date, end: date, columns: Sequence[ColumnElement[Any]]) -> Any:
    """`columns` of the scope's pipeline deals of [start, end], as a subquery."""
    if scope.is_everyone:
        # A quarter of the org: one scan in table order (0.3 s on 1M deals) beats fetching each
        # match through the indexes (2.7 s). The cast leaves SQLite no index for the OR to use.
        closed, created = _pipeline_parts(start, end)[1:]
        anywhere = or_(cast(Deal.is_closed, Integer) == 0, closed, created)
        return select(*columns).where(Deal.removed_at.is_(None), anywhere).subquery()
    parts = [
        _scoped(select(*columns).where(Deal.removed_at.is_(None), part), scope) for part in _pipeline_parts(start, end)
    ]
    return union_all(*parts).subquery()


def deal_totals_sql(session: Session, scope: Scope, start: date, end: date, config: RevbotConfig) -> pd.DataFrame:
    """Per (source, currency): `{bucket}_count` and `{bucket}_cents` for open deals, deals created in
    [start, end], and deals won / lost (closed with a close date) in [start, end]. One pass over the
    scope's deals; the currency is kept so callers can check it has a configured rate."""
    won = and_(_closed_in(start, end), Deal.is_won.is_(True))
    lost = and_(_closed_in(start, end), Deal.is_won.is_(False))
    buckets = {OPEN: Deal.is_closed.is_(False), CREATED: _created_in(start, end), WON: won, LOST: lost}
    flags = [case((condition, 1), else_=0).label(name) for name, condition in buckets.items()]
    cents = amount_cents(config.fx_rates).label("cents")
    rows = _pipeline_rows(
        scope, start, end, [Deal.source.label("source"), Deal.currency.label("currency"), cents, *flags]
    )
    columns: list[ColumnElement[Any]] = [rows.c.source, rows.c.currency]
    for name in buckets:
        flag = rows.c[name]
        columns += [func.sum(flag).label(f"{name}_count"), func.sum(flag * rows.c.cents).label(f"{name}_cents")]
    stmt = select(*columns).group_by(rows.c.source, rows.c.currency)
    names = ["source", "currency"] + [f"{b}_{k}" for b in buckets for k in ("count", "cents")]
    frame = pd.DataFrame.from_records(list(session.execute(stmt).all()), columns=names)
    for name in names[2:]:
        frame[name] = pd.to_numeric(frame[name]).fillna(0).astype("int64")
    return frame


def _days_between_dates(later: ColumnElement[Any], earlier_timestamp: ColumnElement[Any], dialect: str) -> Any:
    """Whole days from the calendar day of a timestamp to a date (`close_date - created_at` normalized)."""
    if dialect == "postgresql":
        return later - cast(earlier_timestamp, Deal.close_date.type)
    return cast(func.julianday(later) - func.julianday(func.date(earlier_timestamp)), Integer)


def won_cycles_sql(session: Session, scope: Scope, start: date, end: date) -> list[tuple[int, int]]:
    """(cycle days, deals) of the deals won in [start, end] with a creation time; days may be
    negative (a close date before creation): callers clip them."""
    dialect = session.get_bind().dialect.name
    days = _days_between_dates(Deal.close_date, Deal.created_at, dialect).label("days")
    stmt = select(days, func.count()).where(
        Deal.removed_at.is_(None), _closed_in(start, end), Deal.is_won.is_(True), Deal.created_at.is_not(None)
    )
    stmt = _scoped(stmt, scope).group_by(days)
    return [(int(d), int(n)) for d, n in session.execute(stmt).all() if d is not None]


def _stage_code(column: ColumnElement[Any], stages: Sequence[str]) -> ColumnElement[Any]:
    """A stage's position in `stages`, or len(stages) for anything else (NULL included)."""
    return case(*((column == name, literal(i)) for i, name in enumerate(stages)), else_=literal(len(stages)))


def _epoch_millis(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """A timestamp as whole milliseconds on a fixed scale (differences are what matter). SQLite
    stores ISO text: a julianday is exact to ~0.03 ms at today's dates, so rounding gives the exact
    millisecond for CRM timestamps (whole milliseconds at most), far cheaper than strftime."""
    if dialect == "postgresql":
        return cast(func.round(func.extract("epoch", column) * 1000), BigInteger)
    return cast(func.round(func.julianday(column) * 86_400_000), BigInteger)


def _numeric_frame(session: Session, stmt: Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Run `stmt` (numbers only; NULL becomes NaN) into a float64 frame straight from the DBAPI
    cursor: building SQLAlchemy rows and a DataFrame from them costs ~10 µs a row, which for an
    org's ~4M stage changes is most of the answer time."""
    result = session.connection().execute(stmt)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    values = np.array(rows, dtype="float64") if rows else np.zeros((0, len(columns)))
    return pd.DataFrame(values.reshape(len(rows), len(columns)), columns=list(columns))


def stage_change_rows_sql(session: Session, scope: Scope, *, until: datetime, stages: Sequence[str]) -> pd.DataFrame:
    """Every stage change before `until` of the scope's deals, narrow and numeric: deal_id, id,
    old and new (positions in `stages`, len(stages) for other values), at (epoch millis). Unordered:
    `metrics.velocity.funnel_from_changes` sorts them (an ORDER BY here costs a sort in SQLite
    for any scope but everyone's)."""
    dialect = session.get_bind().dialect.name
    stmt = _stage_history(scope, until).with_only_columns(
        DealHistory.deal_id,
        DealHistory.id,
        _stage_code(DealHistory.old_value, stages),
        _stage_code(DealHistory.new_value, stages),
        _epoch_millis(DealHistory.changed_at, dialect),
    )
    return _numeric_frame(session, stmt, ["deal_id", "id", "old", "new", "at"]).astype("int64")


def pipeline_stage_rows_sql(
    session: Session, scope: Scope, *, start: date, end: date, stages: Sequence[str]
) -> pd.DataFrame:
    """The pipeline deals of [start, end] (`storage.queries.load_pipeline_deals`' rows): id, stage
    (position in `stages`), created (epoch millis as float64, NaN when unknown)."""
    dialect = session.get_bind().dialect.name
    rows = _pipeline_rows(
        scope,
        start,
        end,
        [
            Deal.id.label("id"),
            _stage_code(Deal.stage, stages).label("stage"),
            _epoch_millis(Deal.created_at, dialect).label("created"),
        ],
    )
    stmt = select(rows.c.id, rows.c.stage, rows.c.created)
    return _numeric_frame(session, stmt, ["id", "stage", "created"]).astype({"id": "int64", "stage": "int64"})


def _stage_history(scope: Scope, until: datetime) -> Select[Any]:
    stmt = (
        select(DealHistory.id)
        .join(Deal, Deal.id == DealHistory.deal_id)
        # Nearly every change is before `until`: the coalesce keeps SQLite from walking
        # ix_deal_history_changed and fetching each row at random (2-3x slower than a scan).
        .where(
            Deal.removed_at.is_(None),
            DealHistory.field == "stage",
            func.coalesce(DealHistory.changed_at, DealHistory.changed_at) < until,
        )
    )
    return _scoped(stmt, scope)
