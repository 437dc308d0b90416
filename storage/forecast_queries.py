"""The `/forecast` fast path: SQL for "now" as groups, and rows only for the deals that changed.

`/forecast` compares the forecast and the pipeline closing in a period now with a week ago. A deal
with no `deal_history` row since then and created before then looked the same a week ago as it
does now, so those deals are only ever needed as sums (`closing_rollup_sql`); the few that did
change are loaded as rows with their history (`changed_deals_sql`, `history_of_deals_sql`) and
rebuilt in `metrics.forecast_change`.

Frames follow `storage.queries`' conventions (ids `Int64`, money float64 in the row's currency,
datetimes naive datetime64, flags bool), so the metrics read them the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, null, or_, select, true, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from metrics.periods import Period
from storage.models import Deal, DealHistory, User
from storage.scope import Scope

ROLLUP_COLUMNS = ("stage", "forecast_category", "is_closed", "is_won", "currency", "exact_amount", "count", "amount")
# No `name`: every column here is in ix_deals_owner_open, so a rep's deals never touch the table.
CHANGED_COLUMNS = (
    "id",
    "owner_id",
    "stage",
    "amount",
    "currency",
    "close_date",
    "forecast_category",
    "created_at",
    "is_closed",
    "is_won",
)
STATE_HISTORY_COLUMNS = ("deal_id", "field", "old_value", "changed_at")
# Bound parameters per `IN (...)`: well under SQLite's 32,766 and cheap for PostgreSQL to plan.
_ID_CHUNK = 5_000
_INTS = {"id", "owner_id", "deal_id", "count"}
_FLOATS = {"amount", "exact_amount"}
_DATETIMES = {"close_date", "created_at", "changed_at"}
_BOOLS = {"is_closed", "is_won"}


def _raw(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    # No per-row type conversion in SQLAlchemy: pandas converts whole columns in `_frame`.
    return type_coerce(column, NullType()).label(name)


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    # Column by column: `DataFrame.from_records` on SQLAlchemy rows takes a slow per-row path
    # (5 s for the 200k rows of an org-wide week on 1M deals, against a fraction for this).
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    frame = pd.DataFrame({name: pd.Series(column, dtype=object) for name, column in zip(columns, values, strict=True)})
    for name in columns:
        if name in _INTS:
            frame[name] = pd.array(pd.to_numeric(frame[name]), dtype="Int64")
        elif name in _FLOATS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif name in _DATETIMES:
            frame[name] = pd.to_datetime(frame[name], errors="coerce", format="ISO8601").astype("datetime64[us]")
        elif name in _BOOLS:
            frame[name] = frame[name].fillna(False).astype(bool)
    return frame


def _owned(stmt: Select[Any], scope: Scope) -> list[Select[Any]]:
    """`stmt` for the deals in scope, as statements to run one after the other.

    For everyone it is two: `owner_id IN (every user)` and `owner_id IS NULL` (the foreign key
    allows nothing else). Each walks the covering index ix_deals_owner_open owner by owner; one
    `owner_id IS NULL OR …` makes SQLite visit ~150k table rows through another index instead
    (1.3 s against 0.25 s for a quarter of 1M deals)."""
    if scope.is_everyone:
        return [stmt.where(Deal.owner_id.in_(select(User.id))), stmt.where(Deal.owner_id.is_(None))]
    if not scope.owner_ids:
        return []
    return [stmt.where(Deal.owner_id.in_(sorted(scope.owner_ids)))]


def _run(session: Session, statements: list[Select[Any]], columns: Sequence[str]) -> pd.DataFrame:
    rows = [row for stmt in statements for row in session.execute(stmt).all()]
    return _frame(rows, columns)


def _closing(period: Period) -> ColumnElement[bool]:
    # `is_closed IN (false, true)` says nothing about the rows but lets SQLite read each owner's
    # (owner_id, is_closed, close_date) ranges of ix_deals_owner_open: with `close_date BETWEEN`
    # alone it reads every deal the owner has (43k for a demo rep on 1M deals, 3x slower).
    return and_(Deal.is_closed.in_([False, True]), Deal.close_date.between(period.start, period.end))


def closing_rollup_sql(
    session: Session, scope: Scope, period: Period, *, exact_currencies: Collection[str] = ()
) -> pd.DataFrame:
    """Deals closing in `period`, grouped by what the forecast reads: stage, forecast_category,
    is_closed, is_won, currency, exact_amount, count, amount (own currency). `exact_amount` is the
    amount itself for `exact_currencies` (one group per distinct amount, so that each deal can be
    converted and rounded on its own: `metrics.forecast_change.group_cents`), else NULL."""
    exact: ColumnElement[Any] = (
        case((Deal.currency.in_(sorted(exact_currencies)), Deal.amount), else_=null()) if exact_currencies else null()
    )
    keys = (Deal.stage, Deal.forecast_category, Deal.is_closed, Deal.is_won, Deal.currency, exact)
    stmt = select(
        *(_raw(column, name) for column, name in zip(keys, ROLLUP_COLUMNS, strict=False)),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(Deal.removed_at.is_(None), _closing(period))
    # Each statement groups its own rows: the same key can come twice (owned and unowned deals),
    # which every reader sums anyway.
    return _run(session, [part.group_by(*keys) for part in _owned(stmt, scope)], ROLLUP_COLUMNS)


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def changed_deals_sql(
    session: Session, scope: Scope, period: Period, *, since: datetime, today: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deals whose place in the forecast or the pipeline closing in `period` can differ
    between `since` and now, and their `deal_history` rows from `since` on (`history_of_deals_sql`'s
    shape). Those deals: created after `since`, or with a history row after it — restricted to
    those closing in the period now, or whose close date changed after `since` (only they can have
    closed in it then), and to the deals `/forecast` considers at all (open, closing or created in
    the period, or closed from `since`'s day to `today`)."""
    base = select(*(_raw(getattr(Deal, name), name) for name in CHANGED_COLUMNS)).where(Deal.removed_at.is_(None))
    if scope.is_everyone:
        return _changed_everywhere(session, base, period, since=since, today=today)
    found = _run(session, _changed_of_owners(base, scope, period, since=since, today=today), CHANGED_COLUMNS)
    deals = found.drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)
    return deals, history_of_deals_sql(session, deals["id"], since=since)


def _history_after(since: datetime, *, field: str | None = None) -> ColumnElement[bool]:
    stmt = exists().where(DealHistory.deal_id == Deal.id, DealHistory.changed_at > since)
    return stmt.where(DealHistory.field == field) if field else stmt


def _created_in(period: Period) -> ColumnElement[bool]:
    return and_(
        Deal.created_at >= _day_start(period.start), Deal.created_at < _day_start(period.end) + timedelta(days=1)
    )


def _changed_of_owners(
    base: Select[Any], scope: Scope, period: Period, *, since: datetime, today: date
) -> list[Select[Any]]:
    """A few owners: walk their part of ix_deals_owner_open and probe each deal's history
    (ix_deal_history_deal_changed), one index range per statement so SQLite never falls back to
    probing every deal the owner ever had."""
    (owned,) = _owned(base, scope)
    recently = Deal.close_date.between(since.date(), today)
    moved = _history_after(since, field="close_date")
    return [
        owned.where(_closing(period), or_(Deal.created_at > since, Deal.created_at.is_(None), _history_after(since))),
        # Not closing in the period now, but their close date moved: open ones, and closed ones
        # that `/forecast` still considers (closed recently, or created in the period).
        owned.where(Deal.is_closed == false(), moved),
        owned.where(Deal.is_closed == true(), recently, moved),
        owned.where(Deal.is_closed == true(), _created_in(period), moved),
    ]


def _changed_everywhere(
    session: Session, base: Select[Any], period: Period, *, since: datetime, today: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everyone: read the week's history once (one changed_at range of ix_deal_history_changed)
    and take the changed deals' ids from it, rather than probe the history of every deal closing
    in the period (150k probes on 1M deals) or read the week twice more through subqueries."""
    stmt = (
        select(*(_raw(getattr(DealHistory, name), name) for name in STATE_HISTORY_COLUMNS))
        .where(DealHistory.changed_at >= since)
        .order_by(DealHistory.changed_at, DealHistory.id)
    )
    week = _frame(session.execute(stmt).all(), STATE_HISTORY_COLUMNS)
    after = week[week["changed_at"] > since]
    changed_ids = sorted(int(i) for i in after["deal_id"].dropna().unique())
    moved_ids = sorted(int(i) for i in after.loc[after["field"] == "close_date", "deal_id"].dropna().unique())
    considered = or_(
        Deal.is_closed == false(),
        Deal.close_date.between(period.start, period.end),
        _created_in(period),
        and_(Deal.is_closed == true(), Deal.close_date.between(since.date(), today)),
    )
    statements = [
        base.where(Deal.id.in_(chunk), Deal.close_date.between(period.start, period.end))
        for chunk in _chunks(changed_ids)
    ]
    statements += [base.where(Deal.id.in_(chunk), considered) for chunk in _chunks(moved_ids)]
    # Created since: through ix_deals_created_at alone (a week of deals), then only those closing
    # in the period; with `close_date BETWEEN` in SQL, SQLite walks the whole period by close date.
    created = _run(session, [base.where(or_(Deal.created_at > since, Deal.created_at.is_(None)))], CHANGED_COLUMNS)
    closing = (created["close_date"] >= pd.Timestamp(period.start)) & (
        created["close_date"] <= pd.Timestamp(period.end)
    )
    found = pd.concat([_run(session, statements, CHANGED_COLUMNS), created[closing]], ignore_index=True)
    deals = found.drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)
    history = week[week["deal_id"].isin(deals["id"])].reset_index(drop=True)
    return deals, history


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[at : at + _ID_CHUNK] for at in range(0, len(ids), _ID_CHUNK)]


def history_of_deals_sql(session: Session, deal_ids: Iterable[int], *, since: datetime) -> pd.DataFrame:
    """`deal_history` rows of these deals changed at or after `since`, oldest first: deal_id, field,
    old_value, changed_at (what `metrics.movement.state_at` reads; not new_value, to move less).
    Read per deal through `ix_deal_history_deal_changed`."""
    ids = sorted({int(i) for i in deal_ids})
    parts = []
    for at in range(0, len(ids), _ID_CHUNK):
        stmt = (
            select(*(_raw(getattr(DealHistory, name), name) for name in STATE_HISTORY_COLUMNS))
            .where(DealHistory.deal_id.in_(ids[at : at + _ID_CHUNK]), DealHistory.changed_at >= since)
            .order_by(DealHistory.changed_at, DealHistory.id)
        )
        parts.append(_frame(session.execute(stmt).all(), STATE_HISTORY_COLUMNS))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _frame([], STATE_HISTORY_COLUMNS)
    # A deal's rows all come from one chunk, already in (changed_at, id) order; a stable sort by
    # changed_at merges the chunks without reordering any deal's own changes.
    return pd.concat(parts, ignore_index=True).sort_values("changed_at", kind="stable").reset_index(drop=True)
