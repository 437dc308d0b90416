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
from functools import cache
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
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
from storage.database import cursor_rows
from storage.digest_queries import amount_cents
from storage.models import Deal, DealHistory
from storage.scope import Scope

# Buckets of `deal_totals_sql`; a deal counts in each that applies.
OPEN, CREATED, WON, LOST = "open", "created", "won", "lost"


# The statements are built once per shape (dialect, stages, rates, kind of scope) with the dates and
# owners as bound parameters: building them took ~5 ms of a rep's ~20 ms answer (SQLAlchemy builds
# an expression per CASE branch and union part), and a built statement also skips the cache-key walk.
START = bindparam("start", type_=Deal.close_date.type)
END = bindparam("end", type_=Deal.close_date.type)
START_AT = bindparam("start_at", type_=Deal.created_at.type)  # midnight starting `start`
END_AT = bindparam("end_at", type_=Deal.created_at.type)  # midnight ending `end` (exclusive)
UNTIL = bindparam("until", type_=DealHistory.changed_at.type)
OWNERS = bindparam("owners", expanding=True)

EVERYONE, NOBODY, OWNERS_LIST = "everyone", "nobody", "owners"


def _scope_kind(scope: Scope) -> str:
    if scope.is_everyone:
        return EVERYONE
    return OWNERS_LIST if scope.owner_ids else NOBODY


def _params(scope: Scope, start: date | None = None, end: date | None = None, **values: Any) -> dict[str, Any]:
    """Values for the bound parameters: the scope's owners, the period's days and midnights."""
    params = dict(values)
    if scope.owner_ids:
        params["owners"] = sorted(scope.owner_ids)
    if start is not None and end is not None:
        params.update(start=start, end=end, start_at=_midnight(start), end_at=_midnight(end) + timedelta(days=1))
    return params


def _scoped(stmt: Select[Any], scope_kind: str) -> Select[Any]:
    if scope_kind == EVERYONE:
        return stmt
    if scope_kind == NOBODY:
        return stmt.where(false())
    return stmt.where(Deal.owner_id.in_(OWNERS))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _closed_in() -> ColumnElement[bool]:
    return and_(Deal.is_closed.is_(True), Deal.close_date.between(START, END))


def _created_in() -> ColumnElement[bool]:
    return and_(Deal.created_at >= START_AT, Deal.created_at < END_AT)


def _pipeline_parts() -> list[ColumnElement[bool]]:
    """The rows `load_pipeline_deals` returns (open, or closing in the period, or created in it) as
    three disjoint conditions, each a prefix of an index (owner, open flag, close date / creation):
    OR-ed, SQLite reads every deal of the scope; UNION ALL-ed, only the matching ones, mostly from
    ix_deals_owner_open without touching the table."""
    closed = Deal.is_closed.is_(True)
    outside = or_(Deal.close_date.is_(None), Deal.close_date < START, Deal.close_date > END)
    return [Deal.is_closed.is_(False), _closed_in(), and_(closed, outside, _created_in())]


def _pipeline_rows(scope_kind: str, columns: Sequence[ColumnElement[Any]]) -> Any:
    """`columns` of the scope's pipeline deals of [START, END], as a subquery."""
    if scope_kind == EVERYONE:
        # A quarter of the org: one scan in table order (0.3 s on 1M deals) beats fetching each
        # match through the indexes (2.7 s). The cast leaves SQLite no index for the OR to use.
        closed, created = _pipeline_parts()[1:]
        anywhere = or_(cast(Deal.is_closed, Integer) == 0, closed, created)
        return select(*columns).where(Deal.removed_at.is_(None), anywhere).subquery()
    parts = [_scoped(select(*columns).where(Deal.removed_at.is_(None), part), scope_kind) for part in _pipeline_parts()]
    return union_all(*parts).subquery()


TOTAL_COLUMNS = ["source", "currency"] + [f"{b}_{k}" for b in (OPEN, CREATED, WON, LOST) for k in ("count", "cents")]


@cache
def _totals_statement(scope_kind: str, rates: tuple[tuple[str, float], ...]) -> Select[Any]:
    won = and_(_closed_in(), Deal.is_won.is_(True))
    lost = and_(_closed_in(), Deal.is_won.is_(False))
    buckets = {OPEN: Deal.is_closed.is_(False), CREATED: _created_in(), WON: won, LOST: lost}
    flags = [case((condition, 1), else_=0).label(name) for name, condition in buckets.items()]
    cents = amount_cents(dict(rates)).label("cents")
    rows = _pipeline_rows(scope_kind, [Deal.source.label("source"), Deal.currency.label("currency"), cents, *flags])
    columns: list[ColumnElement[Any]] = [rows.c.source, rows.c.currency]
    for name in buckets:
        flag = rows.c[name]
        columns += [func.sum(flag).label(f"{name}_count"), func.sum(flag * rows.c.cents).label(f"{name}_cents")]
    return select(*columns).group_by(rows.c.source, rows.c.currency)


def deal_totals_rows(
    session: Session, scope: Scope, start: date, end: date, config: RevbotConfig
) -> list[dict[str, Any]]:
    """Per (source, currency): `{bucket}_count` and `{bucket}_cents` (ints) for open deals, deals
    created in [start, end], and deals won / lost (closed with a close date) in [start, end]. One
    pass over the scope's deals; the currency is kept so callers can check it has a configured rate."""
    stmt = _totals_statement(_scope_kind(scope), tuple(sorted(config.fx_rates.items())))
    # A sum over no amounts is NULL: zero, as the frame's fillna(0) made it.
    return [
        {
            "source": source,
            "currency": currency,
            **{n: int(v or 0) for n, v in zip(TOTAL_COLUMNS[2:], sums, strict=True)},
        }
        for source, currency, *sums in session.execute(stmt, _params(scope, start, end)).all()
    ]


def deal_totals_sql(session: Session, scope: Scope, start: date, end: date, config: RevbotConfig) -> pd.DataFrame:
    """`deal_totals_rows` as a frame (counts and cents int64)."""
    rows = deal_totals_rows(session, scope, start, end, config)
    frame = pd.DataFrame.from_records(rows, columns=TOTAL_COLUMNS)
    return frame.astype({name: "int64" for name in TOTAL_COLUMNS[2:]})


def _days_between_dates(later: ColumnElement[Any], earlier_timestamp: ColumnElement[Any], dialect: str) -> Any:
    """Whole days from the calendar day of a timestamp to a date (`close_date - created_at` normalized)."""
    if dialect == "postgresql":
        return later - cast(earlier_timestamp, Deal.close_date.type)
    return cast(func.julianday(later) - func.julianday(func.date(earlier_timestamp)), Integer)


@cache
def _cycles_statement(scope_kind: str, dialect: str) -> Select[Any]:
    days = _days_between_dates(Deal.close_date, Deal.created_at, dialect).label("days")
    stmt = select(days, func.count()).where(
        Deal.removed_at.is_(None), _closed_in(), Deal.is_won.is_(True), Deal.created_at.is_not(None)
    )
    return _scoped(stmt, scope_kind).group_by(days)


def won_cycles_sql(session: Session, scope: Scope, start: date, end: date) -> list[tuple[int, int]]:
    """(cycle days, deals) of the deals won in [start, end] with a creation time; days may be
    negative (a close date before creation): callers clip them."""
    stmt = _cycles_statement(_scope_kind(scope), session.get_bind().dialect.name)
    return [(int(d), int(n)) for d, n in session.execute(stmt, _params(scope, start, end)).all() if d is not None]


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


def _numeric_columns(
    session: Session, stmt: Select[Any], params: dict[str, Any], columns: Sequence[str], ints: Sequence[str]
) -> dict[str, np.ndarray]:
    """Run `stmt` (numbers only) into one array per column straight from the DBAPI cursor: building
    SQLAlchemy rows and a DataFrame from them costs ~10 µs a row, which for an org's ~4M stage
    changes is most of the answer time. `ints` are int64 columns (never NULL); the rest float64,
    NULL as NaN."""
    rows = cursor_rows(session, stmt, params)
    # fromiter over the flattened rows: half the time of np.array on a list of tuples (None is NaN).
    flat = chain.from_iterable(rows)
    values = np.fromiter(flat, dtype="float64", count=len(rows) * len(columns)).reshape(len(rows), len(columns))
    return {name: values[:, i].astype("int64") if name in ints else values[:, i] for i, name in enumerate(columns)}


@cache
def _stage_changes_statement(scope_kind: str, dialect: str, stages: tuple[str, ...]) -> Select[Any]:
    return _stage_history(scope_kind).with_only_columns(
        DealHistory.deal_id,
        DealHistory.id,
        _stage_code(DealHistory.old_value, stages),
        _stage_code(DealHistory.new_value, stages),
        _epoch_millis(DealHistory.changed_at, dialect),
    )


def stage_change_columns(
    session: Session, scope: Scope, *, until: datetime, stages: Sequence[str]
) -> dict[str, np.ndarray]:
    """Every stage change before `until` of the scope's deals, narrow and numeric (int64 arrays):
    deal_id, id, old and new (positions in `stages`, len(stages) for other values), at (epoch
    millis). Unordered: `metrics.velocity.funnel_from_changes` sorts them (an ORDER BY here costs a
    sort in SQLite for any scope but everyone's)."""
    dialect = session.get_bind().dialect.name
    if scope.is_everyone and dialect == "sqlite":
        return _everyones_stage_changes(session, until=until, stages=tuple(stages))
    if scope.owner_ids and dialect == "sqlite":
        return _owners_stage_changes(session, scope, until=until, stages=tuple(stages))
    stmt = _stage_changes_statement(_scope_kind(scope), dialect, tuple(stages))
    columns = ["deal_id", "id", "old", "new", "at"]
    return _numeric_columns(session, stmt, _params(scope, until=until), columns, ints=columns)


# An org's stage changes (~3.9M rows on 1M deals) come back from SQLite as two comma-separated
# strings, in change id order: fetching them as rows cost ~2 µs a row in Python objects (8 s of
# CPU), and joining each change to its deal for `removed_at` another ~1 s; now SQLite scans the
# history once and numpy parses the strings. Each change is packed into one integer:
# (deal_id * 64 + old) * 64 + new (stage codes are below 64: `funnel_from_changes` allows 62).
_STAGE_BITS = 6
_NO_TIME = -(2**63)  # an unreadable changed_at: what NaN becomes in `_numeric_columns`


@cache
def _packed_changes_statement(stages: tuple[str, ...], *, all_before_until: bool) -> Select[Any]:
    code_old, code_new = _stage_code(DealHistory.old_value, stages), _stage_code(DealHistory.new_value, stages)
    packed = (DealHistory.deal_id * (1 << _STAGE_BITS) + code_old) * (1 << _STAGE_BITS) + code_new
    at = func.coalesce(_epoch_millis(DealHistory.changed_at, "sqlite"), _NO_TIME)
    conditions: tuple[ColumnElement[bool], ...] = (DealHistory.field == "stage",)
    if not all_before_until:  # a period not over yet: every change is before its end, no test per row
        conditions += (func.coalesce(DealHistory.changed_at, DealHistory.changed_at) < UNTIL,)
    # NOT INDEXED: a scan of the table itself, which visits rows in rowid (= id) order, and SQLite
    # concatenates them in the order it visits them, so changes at the same moment keep the order
    # their ids give them. (An ORDER BY id subquery says the same at 1.2 s more on 1M deals.)
    stmt = select(func.group_concat(packed), func.group_concat(at)).where(*conditions)
    return stmt.with_hint(DealHistory, "NOT INDEXED", "sqlite")


@cache
def _owners_packed_statement(stages: tuple[str, ...]) -> Select[Any]:
    """`_stage_changes_statement` for owners as three strings: packed change, time, id."""
    code_old, code_new = _stage_code(DealHistory.old_value, stages), _stage_code(DealHistory.new_value, stages)
    packed = (DealHistory.deal_id * (1 << _STAGE_BITS) + code_old) * (1 << _STAGE_BITS) + code_new
    at = func.coalesce(_epoch_millis(DealHistory.changed_at, "sqlite"), _NO_TIME)
    rows = _stage_history(OWNERS_LIST)
    return rows.with_only_columns(func.group_concat(packed), func.group_concat(at), func.group_concat(DealHistory.id))


def _owners_stage_changes(
    session: Session, scope: Scope, *, until: datetime, stages: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """`stage_change_columns` for named owners on SQLite: a rep's ~3,500 changes as one row of
    strings rather than 3,500 rows of five Python values each."""
    packed_text, at_text, id_text = session.execute(_owners_packed_statement(stages), _params(scope, until=until)).one()
    packed = _int_array(packed_text)
    mask = (1 << _STAGE_BITS) - 1
    return {
        "deal_id": packed >> (2 * _STAGE_BITS),
        "id": _int_array(id_text),
        "old": (packed >> _STAGE_BITS) & mask,
        "new": packed & mask,
        "at": _int_array(at_text),
    }


@cache
def _all_before_statement() -> Select[Any]:
    """Whether every change is before `until` (NULL, falsy, without any change)."""
    return select(func.max(DealHistory.changed_at) < UNTIL)


@cache
def _deal_ids_statement() -> Select[Any]:
    """How many deals, their smallest and largest id, and the removed ones' ids."""
    removed = case((Deal.removed_at.is_not(None), Deal.id))
    return select(func.count(), func.min(Deal.id), func.max(Deal.id), func.group_concat(removed))


def _int_array(text: str | None) -> np.ndarray:
    """Integers from a comma-separated string (`group_concat`), C-parsed."""
    if not text:
        return np.zeros(0, dtype="int64")
    return np.fromstring(text, dtype="int64", sep=",")


def _everyones_stage_changes(session: Session, *, until: datetime, stages: tuple[str, ...]) -> dict[str, np.ndarray]:
    """`stage_change_columns` for everyone on SQLite. `id` is each change's rank in id order (only
    the order of changes at the same moment matters), and the changes come in that order."""
    # The newest change, compared in SQL as each row would be (ix_deal_history_changed: one seek).
    all_before = bool(session.execute(_all_before_statement(), {"until": until}).scalar())
    stmt = _packed_changes_statement(stages, all_before_until=all_before)
    packed_text, at_text = session.execute(stmt, {} if all_before else {"until": until}).one()
    packed, at = _int_array(packed_text), _int_array(at_text)
    mask = (1 << _STAGE_BITS) - 1
    deal = packed >> (2 * _STAGE_BITS)
    live = _live_deals(session, deal)
    columns = {
        "deal_id": deal,
        "id": np.arange(len(packed), dtype="int64"),
        "old": (packed >> _STAGE_BITS) & mask,
        "new": packed & mask,
        "at": at,
    }
    if live is None:
        return columns
    return {name: values[live] for name, values in columns.items()}


def _live_deals(session: Session, deal_ids: np.ndarray) -> np.ndarray | None:
    """Which of `deal_ids` are deals not removed (what a join on deals with `removed_at IS NULL`
    keeps), or None for all of them. Deal ids are usually one unbroken range: then a range check
    and the few removed ids say it, without reading every id."""
    count, low, high, removed_text = session.execute(_deal_ids_statement()).one()
    if not count:
        return np.zeros(len(deal_ids), dtype=bool)
    removed = _int_array(removed_text)
    if count == high - low + 1:
        if not len(removed) and (not len(deal_ids) or (deal_ids.min() >= low and deal_ids.max() <= high)):
            return None
        return (deal_ids >= low) & (deal_ids <= high) & ~np.isin(deal_ids, removed)
    every = _int_array(session.execute(select(func.group_concat(Deal.id)).where(Deal.removed_at.is_(None))).scalar())
    return np.isin(deal_ids, every)


def stage_change_rows_sql(session: Session, scope: Scope, *, until: datetime, stages: Sequence[str]) -> pd.DataFrame:
    """`stage_change_columns` as a frame."""
    return pd.DataFrame(stage_change_columns(session, scope, until=until, stages=stages), copy=False)


@cache
def _pipeline_stages_statement(scope_kind: str, dialect: str, stages: tuple[str, ...]) -> Select[Any]:
    rows = _pipeline_rows(
        scope_kind,
        [
            Deal.id.label("id"),
            _stage_code(Deal.stage, stages).label("stage"),
            _epoch_millis(Deal.created_at, dialect).label("created"),
        ],
    )
    return select(rows.c.id, rows.c.stage, rows.c.created)


def pipeline_stage_columns(
    session: Session, scope: Scope, *, start: date, end: date, stages: Sequence[str]
) -> dict[str, np.ndarray]:
    """The pipeline deals of [start, end] (`storage.queries.load_pipeline_deals`' rows): id, stage
    (position in `stages`) as int64, created (epoch millis as float64, NaN when unknown)."""
    stmt = _pipeline_stages_statement(_scope_kind(scope), session.get_bind().dialect.name, tuple(stages))
    return _numeric_columns(session, stmt, _params(scope, start, end), ["id", "stage", "created"], ints=["id", "stage"])


def pipeline_stage_rows_sql(
    session: Session, scope: Scope, *, start: date, end: date, stages: Sequence[str]
) -> pd.DataFrame:
    """`pipeline_stage_columns` as a frame."""
    return pd.DataFrame(pipeline_stage_columns(session, scope, start=start, end=end, stages=stages), copy=False)


def _stage_history(scope_kind: str) -> Select[Any]:
    # Nearly every change is before `until`: the coalesce keeps SQLite from walking
    # ix_deal_history_changed and fetching each row at random (2-3x slower than a scan).
    conditions = (DealHistory.field == "stage", func.coalesce(DealHistory.changed_at, DealHistory.changed_at) < UNTIL)
    if scope_kind == EVERYONE:
        return (
            select(DealHistory.id)
            .join(Deal, Deal.id == DealHistory.deal_id)
            .where(Deal.removed_at.is_(None), *conditions)
        )
    # The scope's deal ids as a list: SQLite then reads their changes in deal id order, pages in
    # file order (a join visits them in owner-index order): 30% less time for a rep on 1M deals.
    deals = _scoped(select(Deal.id).where(Deal.removed_at.is_(None)), scope_kind)
    return select(DealHistory.id).where(DealHistory.deal_id.in_(deals.scalar_subquery()), *conditions)
