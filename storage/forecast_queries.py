"""The `/forecast` fast path: SQL for "now" as groups, and rows only for the deals that changed.

`/forecast` compares the forecast and the pipeline closing in a period now with a week ago. A deal
with no `deal_history` row since then and created before then looked the same a week ago as it
does now, so those deals are only ever needed as sums (`closing_rollup_sql`); the few that did
change are loaded as rows with their history (`changed_deals_sql`, `history_of_deals_sql`) and
rebuilt in `metrics.forecast_change`.

Frames follow `storage.queries`' conventions (ids `Int64`, money float64 in the row's currency,
datetimes naive datetime64, flags bool), so the metrics read them the same way. A few owners' deals
also come as typed rows (`closing_rollup_rows`, `changed_deal_rows`: the same values as plain
Python, None where the frame has NaN/NaT), because a rep's answer is a few hundred values and
building frames of them costs ten times more than the arithmetic on them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple, TypeVar

import pandas as pd
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from metrics.periods import Period
from storage.database import cursor_rows
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

# Named owners' statements (`_rollup_of_owners`, `_changed_statements`, `_history_statement`) are
# built once, with these bound parameters: built anew for every question, each cost SQLAlchemy a
# fresh cache key and parameter processing, ~1.5 ms a statement, as much as SQLite takes to run it
# for a rep.
_OWNERS = bindparam("owners", expanding=True)
_START = bindparam("start", type_=Deal.close_date.type)
_END = bindparam("end", type_=Deal.close_date.type)
_SINCE = bindparam("since", type_=Deal.created_at.type)
_SINCE_DAY = bindparam("since_day", type_=Deal.close_date.type)
_TODAY = bindparam("today", type_=Deal.close_date.type)
_CREATED_FROM = bindparam("created_from", type_=Deal.created_at.type)
_CREATED_BEFORE = bindparam("created_before", type_=Deal.created_at.type)
_EXACT = bindparam("exact", expanding=True, type_=Deal.currency.type)
_DEAL_IDS = bindparam("deal_ids", expanding=True, type_=DealHistory.deal_id.type)


class GroupRow(NamedTuple):
    """A `closing_rollup_sql` row."""

    stage: str | None
    forecast_category: str | None
    is_closed: bool
    is_won: bool
    currency: str | None
    exact_amount: float | None
    count: int
    amount: float | None


class DealRow(NamedTuple):
    """A `changed_deals_sql` deal row."""

    id: int
    owner_id: int | None
    stage: str | None
    amount: float | None
    currency: str | None
    close_date: datetime | None
    forecast_category: str | None
    created_at: datetime | None
    is_closed: bool
    is_won: bool


class HistoryRow(NamedTuple):
    """A `history_of_deals_sql` row."""

    deal_id: int
    field: str | None
    old_value: str | None
    changed_at: datetime | None


Row = TypeVar("Row", GroupRow, DealRow, HistoryRow)


def _raw(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    # No per-row type conversion in SQLAlchemy: pandas converts whole columns in `_frame`.
    return type_coerce(column, NullType()).label(name)


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    # Column by column: `DataFrame.from_records` on SQLAlchemy rows takes a slow per-row path
    # (5 s for the 200k rows of an org-wide week on 1M deals, against a fraction for this).
    # One comprehension per column: `zip(*rows)` unpacks every row as an argument (0.5 s for 200k).
    values = [[row[at] for row in rows] for at in range(len(columns))]
    frame = pd.DataFrame({name: pd.Series(column, dtype=object) for name, column in zip(columns, values, strict=True)})
    for name in columns:
        if name in _INTS:
            frame[name] = pd.array(pd.to_numeric(frame[name]), dtype="Int64")
        elif name in _FLOATS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif name in _DATETIMES:
            # cache=False: the values are mostly distinct, and the cache cost 20x the parsing.
            parsed = pd.to_datetime(frame[name], errors="coerce", format="ISO8601", cache=False)
            frame[name] = parsed.astype("datetime64[us]")
        elif name in _BOOLS:
            frame[name] = frame[name].fillna(False).astype(bool)
    return frame


def _typed(rows: Sequence[Any], row_type: type[Row]) -> list[Row]:
    """`rows` as `row_type` tuples holding what `_frame` would hold, as plain Python values."""
    convert = [(at, to) for at, name in enumerate(row_type._fields) if (to := _converter(name)) is not None]
    typed = []
    for row in rows:
        values = list(row)
        for at, to in convert:
            values[at] = to(values[at])
        typed.append(row_type._make(values))
    return typed


def _converter(name: str) -> Callable[[Any], Any] | None:
    """None for text, which both drivers return as str or None (SQLite stores NaN as NULL)."""
    if name in _INTS:
        return _int
    if name in _FLOATS:
        return _float
    if name in _DATETIMES:
        return _datetime
    if name in _BOOLS:
        return bool  # NULL is False, as `fillna(False)`
    return None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    # PostgreSQL's numerics come as Decimal, SQLite's as int or float; `pd.to_numeric` makes each
    # a float the same way `float` does.
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float(pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0])
    return None if number != number else number  # noqa: PLR0124 - NaN


def _datetime(value: Any) -> datetime | None:
    """A naive datetime as `_frame` parses it (SQLite stores ISO text, PostgreSQL returns dates
    and datetimes), truncated to the microsecond as datetime64[us]."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    stamp = pd.to_datetime(pd.Series([value], dtype=object), errors="coerce", format="ISO8601")
    stamp = stamp.astype("datetime64[us]").iloc[0]
    return None if pd.isna(stamp) else stamp.to_pydatetime()


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


def _rows(session: Session, statements: list[Select[Any]]) -> list[Any]:
    return [row for stmt in statements for row in session.execute(stmt).all()]


def _run(session: Session, statements: list[Select[Any]], columns: Sequence[str]) -> pd.DataFrame:
    return _frame(_rows(session, statements), columns)


def _closing(start: date | BindParameter[Any], end: date | BindParameter[Any]) -> ColumnElement[bool]:
    # `is_closed IN (false, true)` says nothing about the rows but lets SQLite read each owner's
    # (owner_id, is_closed, close_date) ranges of ix_deals_owner_open: with `close_date BETWEEN`
    # alone it reads every deal the owner has (43k for a demo rep on 1M deals, 3x slower).
    return and_(Deal.is_closed.in_([False, True]), Deal.close_date.between(start, end))


def _period_params(scope: Scope, period: Period) -> dict[str, Any]:
    return {"owners": sorted(scope.owner_ids or ()), "start": period.start, "end": period.end}


def closing_rollup_sql(
    session: Session, scope: Scope, period: Period, *, exact_currencies: Collection[str] = ()
) -> pd.DataFrame:
    """Deals closing in `period`, grouped by what the forecast reads: stage, forecast_category,
    is_closed, is_won, currency, exact_amount, count, amount (own currency). `exact_amount` is the
    amount itself for `exact_currencies` (one group per distinct amount, so that each deal can be
    converted and rounded on its own: `metrics.forecast_change.group_cents`), else NULL."""
    return _frame(_rollup(session, scope, period, exact_currencies), ROLLUP_COLUMNS)


def closing_rollup_rows(
    session: Session, scope: Scope, period: Period, *, exact_currencies: Collection[str] = ()
) -> list[GroupRow]:
    """`closing_rollup_sql` as rows."""
    return _typed(_rollup(session, scope, period, exact_currencies), GroupRow)


def _rollup(session: Session, scope: Scope, period: Period, exact_currencies: Collection[str]) -> list[Any]:
    if not scope.is_everyone:
        if not scope.owner_ids:
            return []
        params = _period_params(scope, period) | ({"exact": sorted(exact_currencies)} if exact_currencies else {})
        return session.execute(_rollup_of_owners(bool(exact_currencies)), params).all()
    exact: ColumnElement[Any] = (
        case((Deal.currency.in_(sorted(exact_currencies)), Deal.amount), else_=null()) if exact_currencies else null()
    )
    stmt, keys = _rollup_select(exact, _closing(period.start, period.end))
    # Each statement groups its own rows: the same key can come twice (owned and unowned deals),
    # which every reader sums anyway.
    return _rows(session, [part.group_by(*keys) for part in _owned(stmt, scope)])


def _rollup_select(
    exact: ColumnElement[Any], closing: ColumnElement[bool]
) -> tuple[Select[Any], tuple[ColumnElement[Any], ...]]:
    keys = (Deal.stage, Deal.forecast_category, Deal.is_closed, Deal.is_won, Deal.currency, exact)
    stmt = select(
        *(_raw(column, name) for column, name in zip(keys, ROLLUP_COLUMNS, strict=False)),
        _raw(func.count(), "count"),
        _raw(func.coalesce(func.sum(Deal.amount), 0), "amount"),
    ).where(Deal.removed_at.is_(None), closing)
    return stmt, keys


@cache
def _rollup_of_owners(exact: bool) -> Select[Any]:
    """The rollup for `owners` (bound), built once per shape (see `_OWNERS`)."""
    stmt, keys = _rollup_select(
        case((Deal.currency.in_(_EXACT), Deal.amount), else_=null()) if exact else null(), _closing(_START, _END)
    )
    return stmt.where(Deal.owner_id.in_(_OWNERS)).group_by(*keys)


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
    base = _changed_base()
    if scope.is_everyone:
        return _changed_everywhere(session, base, period, since=since, today=today)
    deals = _frame(_changed_of_owners(session, scope, period, since=since, today=today), CHANGED_COLUMNS)
    return deals, history_of_deals_sql(session, deals["id"], since=since)


def changed_deal_rows(
    session: Session, scope: Scope, period: Period, *, since: datetime, today: date
) -> tuple[list[DealRow], list[HistoryRow]]:
    """`changed_deals_sql` as rows, for a scope of named owners (not everyone)."""
    if scope.is_everyone:
        raise ValueError("changed_deal_rows reads named owners' deals; use changed_deals_sql for everyone")
    deals = _typed(_changed_of_owners(session, scope, period, since=since, today=today), DealRow)
    ids = sorted({deal.id for deal in deals})
    # Unsorted from SQL, then oldest first (changed_at, id) as `history_of_deals_sql` returns them:
    # SQLite's sort of a rep's hundred rows took as long as finding them.
    found = [
        row
        for at in range(0, len(ids), _ID_CHUNK)
        for row in session.execute(
            _history_statement(ordered=False), {"deal_ids": ids[at : at + _ID_CHUNK], "since": since}
        ).all()
    ]
    keyed = sorted(
        zip(_typed([row[:-1] for row in found], HistoryRow), (row[-1] for row in found), strict=True), key=_oldest_first
    )
    return deals, [row for row, _ in keyed]


def _oldest_first(keyed: tuple[HistoryRow, int]) -> tuple[bool, datetime, int]:
    row, history_id = keyed
    # Unreadable times last, as pandas sorts NaT.
    return (row.changed_at is None, row.changed_at or datetime.min, history_id)


def _changed_base() -> Select[Any]:
    return select(*(_raw(getattr(Deal, name), name) for name in CHANGED_COLUMNS)).where(Deal.removed_at.is_(None))


def _history_after(since: datetime | BindParameter[Any], *, field: str | None = None) -> ColumnElement[bool]:
    stmt = exists().where(DealHistory.deal_id == Deal.id, DealHistory.changed_at > since)
    return stmt.where(DealHistory.field == field) if field else stmt


def _created_in(period: Period) -> ColumnElement[bool]:
    return and_(
        Deal.created_at >= _day_start(period.start), Deal.created_at < _day_start(period.end) + timedelta(days=1)
    )


def _changed_of_owners(session: Session, scope: Scope, period: Period, *, since: datetime, today: date) -> list[Any]:
    """A few owners' changed deals, each once, by id (`_changed_statements`)."""
    if not scope.owner_ids:
        return []
    params = _period_params(scope, period) | {
        "since": since,
        "since_day": since.date(),
        "today": today,
        "created_from": _day_start(period.start),
        "created_before": _day_start(period.end) + timedelta(days=1),
    }
    rows = [row for stmt in _changed_statements() for row in session.execute(stmt, params).all()]
    # A deal found twice is the same row twice: keep one, ordered by id.
    unique = {row[0]: row for row in reversed(rows)}
    return [unique[deal_id] for deal_id in sorted(unique)]


@cache
def _changed_statements() -> tuple[Select[Any], ...]:
    """Walk the owners' part of ix_deals_owner_open (a covering index: the deals table is never
    read) and probe the history (ix_deal_history_deal_changed) only of the deals that could count.
    Built once (see `_OWNERS`)."""
    owned = _changed_base().where(Deal.owner_id.in_(_OWNERS))
    closing_now = owned.where(
        _closing(_START, _END), or_(Deal.created_at > _SINCE, Deal.created_at.is_(None), _history_after(_SINCE))
    )
    # Not closing in the period now, but their close date moved: open ones, and closed ones that
    # `/forecast` still considers (closed recently, or created in the period). Those closing in it
    # moved too are in the first statement already: leaving them out halves the history probes, and
    # one statement for the three kinds walks the owner's range once (0.7 ms for a demo rep on 1M
    # deals, against 2.9 ms for open, recently closed and created-in-period deals one at a time).
    moved_in = owned.where(
        or_(Deal.close_date.is_(None), Deal.close_date < _START, Deal.close_date > _END),
        or_(
            Deal.is_closed == false(),
            and_(
                Deal.is_closed == true(),
                or_(
                    Deal.close_date.between(_SINCE_DAY, _TODAY),
                    and_(Deal.created_at >= _CREATED_FROM, Deal.created_at < _CREATED_BEFORE),
                ),
            ),
        ),
        _history_after(_SINCE, field="close_date"),
    )
    return closing_now, moved_in


def _changed_everywhere(
    session: Session, base: Select[Any], period: Period, *, since: datetime, today: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everyone: read the week's history once (one changed_at range of ix_deal_history_changed)
    and let SQLite take the changed deals from the same range as a subquery (an IN list it builds
    once, then a primary-key lookup per changed deal), rather than probe the history of every deal
    closing in the period (150k probes on 1M deals). Rows come straight from the DBAPI cursor:
    SQLAlchemy's result rows, and the ids shipped back in 5,000-id IN lists, cost ~3 s of the
    4.3 s this took on 1M deals (the SQL itself is ~0.5 s)."""
    params = {
        "since": since,
        "since_day": since.date(),
        "today": today,
        "start": period.start,
        "end": period.end,
        "created_from": _day_start(period.start),
        "created_before": _day_start(period.end) + timedelta(days=1),
    }
    week = _frame(cursor_rows(session, _week_statement(), params), STATE_HISTORY_COLUMNS)
    found = _frame(
        [row for stmt in _changed_everywhere_statements() for row in cursor_rows(session, stmt, params)],
        CHANGED_COLUMNS,
    )
    created = _frame(
        [row for stmt in _created_since_statements() for row in cursor_rows(session, stmt, params)], CHANGED_COLUMNS
    )
    found = pd.concat([found, created], ignore_index=True)
    deals = found.drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)
    history = week[week["deal_id"].isin(deals["id"])].reset_index(drop=True)
    return deals, history


@cache
def _week_statement() -> Select[Any]:
    """The history from `since` on, oldest first (what `history_of_deals_sql` returns)."""
    return (
        select(*(_raw(getattr(DealHistory, name), name) for name in STATE_HISTORY_COLUMNS))
        .where(DealHistory.changed_at >= _SINCE)
        .order_by(DealHistory.changed_at, DealHistory.id)
    )


@cache
def _changed_everywhere_statements() -> tuple[Select[Any], ...]:
    """Deals with a history row after `since` closing in the period, and deals whose close date
    changed after `since` that `/forecast` considers at all. Built once (see `_OWNERS`)."""
    base = _changed_base()
    changed = select(DealHistory.deal_id).where(DealHistory.changed_at > _SINCE)
    moved = changed.where(DealHistory.field == "close_date")
    considered = or_(
        Deal.is_closed == false(),
        Deal.close_date.between(_START, _END),
        and_(Deal.created_at >= _CREATED_FROM, Deal.created_at < _CREATED_BEFORE),
        and_(Deal.is_closed == true(), Deal.close_date.between(_SINCE_DAY, _TODAY)),
    )
    return (
        base.where(Deal.id.in_(changed), Deal.close_date.between(_START, _END)),
        base.where(Deal.id.in_(moved), considered),
    )


@cache
def _created_since_statements() -> tuple[Select[Any], ...]:
    """Deals created after `since` (or at an unknown time) closing in the period, each kind one
    lookup in ix_deals_created_at (a week of deals; OR-ed, SQLite scans every deal), the close date
    checked per row (the coalesce keeps SQLite from walking the whole period by close date)."""
    closing = func.coalesce(Deal.close_date, Deal.close_date).between(_START, _END)
    return (
        _changed_base().where(Deal.created_at > _SINCE, closing),
        _changed_base().where(Deal.created_at.is_(None), closing),
    )


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[at : at + _ID_CHUNK] for at in range(0, len(ids), _ID_CHUNK)]


def history_of_deals_sql(session: Session, deal_ids: Iterable[int], *, since: datetime) -> pd.DataFrame:
    """`deal_history` rows of these deals changed at or after `since`, oldest first: deal_id, field,
    old_value, changed_at (what `metrics.movement.state_at` reads; not new_value, to move less).
    Read per deal through `ix_deal_history_deal_changed`."""
    ids = sorted({int(i) for i in deal_ids})
    parts = [_frame(rows, STATE_HISTORY_COLUMNS) for rows in _history_chunks(session, ids, since=since)]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _frame([], STATE_HISTORY_COLUMNS)
    # A deal's rows all come from one chunk, already in (changed_at, id) order; a stable sort by
    # changed_at merges the chunks without reordering any deal's own changes.
    return pd.concat(parts, ignore_index=True).sort_values("changed_at", kind="stable").reset_index(drop=True)


def _history_chunks(session: Session, ids: list[int], *, since: datetime) -> list[list[Any]]:
    return [
        session.execute(_history_statement(ordered=True), {"deal_ids": ids[at : at + _ID_CHUNK], "since": since}).all()
        for at in range(0, len(ids), _ID_CHUNK)
    ]


@cache
def _history_statement(*, ordered: bool) -> Select[Any]:
    """STATE_HISTORY_COLUMNS of `deal_ids` from `since` on, oldest first; else with the row's id
    last, unordered. Built once (see `_OWNERS`)."""
    columns = [_raw(getattr(DealHistory, name), name) for name in STATE_HISTORY_COLUMNS]
    if not ordered:
        return select(*columns, _raw(DealHistory.id, "id")).where(
            DealHistory.deal_id.in_(_DEAL_IDS), DealHistory.changed_at >= _SINCE
        )
    return (
        select(*columns)
        .where(DealHistory.deal_id.in_(_DEAL_IDS), DealHistory.changed_at >= _SINCE)
        .order_by(DealHistory.changed_at, DealHistory.id)
    )
