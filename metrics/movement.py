"""Movement: how the open pipeline got from one date to another (a bridge / waterfall).

Each deal's state at a moment is rebuilt from its current row by undoing the `deal_history`
changes made after that moment (stage, amount, close date, forecast category). The pipeline at a
moment is the deals that existed then (`created_at` ≤ moment), were in an open stage, and — when
a period is given — had a close date in that period. Deals deleted in the CRM (`removed_at`) are
not loaded and so appear in neither end.

Every deal that is in either end's pipeline lands in exactly one movement, so
`start + Σ movements == end`, to the cent (sums are done in whole cents):
- new: created after the start and in the pipeline at the end;
- pulled_in: existed and open at the start with a close date outside the period, now inside;
- reopened: closed at the start, open and in the pipeline at the end;
- won / lost: in the pipeline at the start, closed won / lost at the end (value at the start);
- slipped: in the pipeline at the start, still open but its close date moved out of the period;
- amount_up / amount_down: in both, the change of amount;
- advanced / regressed: in both, moved to a later / earlier stage. Their `amount` is the value of
  those deals at the end, and their `delta` is 0: a stage change alone does not change the
  pipeline's value (the deal's amount change, if any, is in amount_up / amount_down).

`states_at` and `bridge_between` work on frames; `state_rows_at` and `bridge_of_rows` do the same
on a few hundred deals as plain Python (a rep's week: pandas' fixed cost per operation is most of
the time there), value for value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from metrics.frames import DEAL_DEFAULTS, as_timestamp, ensure_datetime
from metrics.money import from_cents, to_reporting
from metrics.periods import Period
from storage.config import RevbotConfig
from storage.forecast_queries import DealRow, HistoryRow

MOVEMENTS = (
    "new",
    "pulled_in",
    "reopened",
    "amount_up",
    "amount_down",
    "advanced",
    "regressed",
    "slipped",
    "won",
    "lost",
)


@dataclass(frozen=True)
class Movement:
    name: str
    count: int
    delta: float  # signed contribution to end − start
    amount: float  # value of the deals concerned (at the start for outflows, at the end otherwise)


@dataclass(frozen=True)
class Bridge:
    start_at: datetime
    end_at: datetime
    period: Period | None
    currency: str
    start: float
    end: float
    movements: dict[str, Movement]
    # Builds `deals` on first use: /forecast shows only the movements' totals, and for a rep the
    # frame cost more than the whole bridge.
    build_deals: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @cached_property
    def deals(self) -> pd.DataFrame:
        """One row per deal that moved: id, name, movement, stage_movement, start_stage, end_stage,
        start_amount, end_amount, delta."""
        return self.build_deals()

    def __getattr__(self, name: str) -> Movement:
        movements = self.__dict__.get("movements", {})
        if name in movements:
            return movements[name]
        raise AttributeError(name)

    @property
    def balances(self) -> bool:
        total = round(self.start * 100) + sum(round(m.delta * 100) for m in self.movements.values())
        return total == round(self.end * 100)


def _parse_history_value(field_name: str, values: pd.Series) -> pd.Series:
    if field_name == "amount":
        return pd.to_numeric(values, errors="coerce")
    if field_name == "close_date":
        return pd.to_datetime(values, errors="coerce", format="mixed").dt.normalize()
    return values


def map_by_value(values: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """`values.astype(object).map(function)`, calling `function` once per distinct value: an org's
    week is 60k deals with a dozen stages, and a Python call per deal was 0.2 s a column."""
    codes, uniques = pd.factorize(values)
    if len(codes) and codes.min() < 0:  # a missing value: None and NaN may map apart, keep each
        return values.astype(object).map(function)
    # The same values as objects, so the same results and the same inferred dtype.
    mapped = pd.Series(np.asarray(uniques, dtype=object), dtype=object).map(function)
    result = mapped.take(codes)
    result.index = values.index
    return result


STATE_COLUMNS = ("id", "name", "stage", "amount", "currency", "close_date", "forecast_category", "created_at")


def state_at(deals: pd.DataFrame, history: pd.DataFrame, moment: datetime, config: RevbotConfig) -> pd.DataFrame:
    """Each deal as it was at `moment`: stage, amount, close_date, forecast_category, exists, is_open,
    is_won, amount_rc (reporting currency at today's rates)."""
    return states_at(deals, history, [moment], config)[0]


def states_at(
    deals: pd.DataFrame, history: pd.DataFrame, moments: list[datetime], config: RevbotConfig
) -> list[pd.DataFrame]:
    """`state_at` for several moments, sharing the preparation of the deals and the history."""
    current = _state_columns(deals)
    later_all = None
    if history is not None and not history.empty:
        later_all = ensure_datetime(history.copy(), ["changed_at"])
        later_all = later_all[later_all["deal_id"].isin(current.index)].sort_values(["changed_at"], kind="stable")
    return [_state(current.copy(), later_all, as_timestamp(moment), config) for moment in moments]


def _state_columns(deals: pd.DataFrame) -> pd.DataFrame:
    """The columns `state_at` reads, typed as `metrics.frames.prepare_deals` types them (without
    preparing the dozen columns it does not read)."""
    columns: dict[str, object] = {}
    for name in STATE_COLUMNS:
        missing = pd.Series(DEAL_DEFAULTS.get(name), index=deals.index, dtype=object)  # dates: None, then NaT
        columns[name] = deals.get(name, missing)
    for flag in ("is_closed", "is_won"):
        columns[flag] = deals[flag].fillna(False).astype(bool) if flag in deals else False
    frame = pd.DataFrame(columns, index=deals.index)
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").fillna(0.0).astype("float64")
    ensure_datetime(frame, ("close_date", "created_at"))
    return frame.set_index("id", drop=False)


def _state(frame: pd.DataFrame, later_all: pd.DataFrame | None, at: pd.Timestamp, config: RevbotConfig) -> pd.DataFrame:
    if later_all is not None:
        later = later_all[later_all["changed_at"] > at]
        # The oldest change after `at` of each (deal, field) says what the field was then, empty
        # included: `groupby.first()` skipped empty old values, so a category None → Best Case →
        # Commit after `at` came back as Best Case instead of none.
        keyed = later[later["deal_id"].notna() & later["field"].notna()]
        firsts = keyed.drop_duplicates(["deal_id", "field"], keep="first").set_index(["deal_id", "field"])["old_value"]
        for field_name in ("stage", "amount", "close_date", "forecast_category"):
            if field_name not in firsts.index.get_level_values("field"):
                continue
            undo = firsts.xs(field_name, level="field")
            undo = undo[undo.index.isin(frame.index)]
            parsed = _parse_history_value(field_name, undo)
            if field_name == "amount":
                parsed = parsed.fillna(frame.loc[parsed.index, "amount"])
            frame.loc[parsed.index, field_name] = parsed.values
    status = {s.name.casefold(): s.status for s in config.stages}
    current_status = np.where(frame["is_closed"], np.where(frame["is_won"], "won", "lost"), "open")
    stage_status = map_by_value(frame["stage"], lambda s: status.get(str(s).casefold()))
    frame["status"] = stage_status.fillna(pd.Series(current_status, index=frame.index))
    frame["exists"] = frame["created_at"].notna() & (frame["created_at"] <= at)
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").fillna(0.0)
    # Only amount and currency decide amount_rc: convert those two columns, not a prepared copy of all.
    frame["amount_rc"] = to_reporting(frame[["amount", "currency"]], config)["amount_rc"].to_numpy()
    frame["cents"] = np.round(frame["amount_rc"].to_numpy() * 100).astype("int64")
    frame["close_date"] = pd.to_datetime(frame["close_date"], errors="coerce")
    return frame.reset_index(drop=True)


def _in_pipeline(state: pd.DataFrame, period: Period | None) -> pd.Series:
    inside = state["exists"] & (state["status"] == "open")
    if period is not None:
        inside &= (state["close_date"] >= as_timestamp(period.start)) & (
            state["close_date"] <= as_timestamp(period.end)
        )
    return inside


def pipeline_bridge(
    deals: pd.DataFrame,
    history: pd.DataFrame,
    *,
    start: datetime | date,
    end: datetime | date,
    config: RevbotConfig,
    period: Period | None = None,
) -> Bridge:
    """The bridge of open pipeline (closing in `period`, or all of it) from `start` to `end`.

    `deals` must hold every deal that could be in either end (open now, or closed/created since
    `start`); `history` their changes after `start`.
    """
    start_at, end_at = as_timestamp(start).to_pydatetime(), as_timestamp(end).to_pydatetime()
    before, after = states_at(deals, history, [start_at, end_at], config)
    return bridge_between(before, after, start=start_at, end=end_at, config=config, period=period)


def bridge_between(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    start: datetime | date,
    end: datetime | date,
    config: RevbotConfig,
    period: Period | None = None,
) -> Bridge:
    """`pipeline_bridge` from the two `state_at` frames (same deals, same order), for callers
    that need a state for something else too and should not rebuild it twice."""
    start_at, end_at = as_timestamp(start).to_pydatetime(), as_timestamp(end).to_pydatetime()
    order = {s.name.casefold(): i for i, s in enumerate(config.stages)}
    in_start = _in_pipeline(before, period).to_numpy()
    in_end = _in_pipeline(after, period).to_numpy()
    s_cents = np.where(in_start, before["cents"].to_numpy(), 0)
    e_cents = np.where(in_end, after["cents"].to_numpy(), 0)
    movement = np.full(len(before), "", dtype=object)
    both = in_start & in_end
    delta = e_cents - s_cents
    movement[both & (delta > 0)] = "amount_up"
    movement[both & (delta < 0)] = "amount_down"
    stage_before = map_by_value(before["stage"], lambda s: order.get(str(s).casefold(), -1)).to_numpy()
    stage_after = map_by_value(after["stage"], lambda s: order.get(str(s).casefold(), -1)).to_numpy()
    stage_move = np.full(len(before), "", dtype=object)
    stage_move[both & (stage_after > stage_before)] = "advanced"
    stage_move[both & (stage_after < stage_before)] = "regressed"

    only_end = in_end & ~in_start
    existed_open = before["exists"].to_numpy() & (before["status"] == "open").to_numpy()
    existed_closed = before["exists"].to_numpy() & (before["status"] != "open").to_numpy()
    movement[only_end & ~before["exists"].to_numpy()] = "new"
    movement[only_end & existed_open] = "pulled_in"
    movement[only_end & existed_closed] = "reopened"

    only_start = in_start & ~in_end
    end_status = after["status"].to_numpy()
    movement[only_start & (end_status == "won")] = "won"
    movement[only_start & (end_status == "lost")] = "lost"
    movement[only_start & (end_status == "open")] = "slipped"

    deltas = np.where(only_start, -s_cents, np.where(only_end, e_cents, np.where(both, delta, 0)))
    moved = pd.DataFrame(
        {
            "id": before["id"],
            "name": before["name"],
            "movement": movement,
            "stage_movement": stage_move,
            "start_stage": before["stage"],
            "end_stage": after["stage"],
            "start_amount": np.where(in_start, s_cents, 0) / 100,
            "end_amount": np.where(in_end, e_cents, 0) / 100,
            "delta": deltas / 100,
        }
    )
    results: dict[str, Movement] = {}
    for name in MOVEMENTS:
        if name in ("advanced", "regressed"):
            mask = stage_move == name
            results[name] = Movement(name, int(mask.sum()), 0.0, from_cents(e_cents[mask].sum()))
            continue
        mask = movement == name
        value = s_cents[mask].sum() if name in ("won", "lost", "slipped") else e_cents[mask].sum()
        results[name] = Movement(name, int(mask.sum()), from_cents(deltas[mask].sum()), from_cents(value))
    relevant = (movement != "") | (stage_move != "")
    return Bridge(
        start_at=start_at,
        end_at=end_at,
        period=period,
        currency=config.reporting_currency,
        start=from_cents(s_cents.sum()),
        end=from_cents(e_cents.sum()),
        movements=results,
        build_deals=lambda: moved[relevant].reset_index(drop=True),
    )


# --- the same on rows --------------------------------------------------------------------------

UNDONE_FIELDS = frozenset({"stage", "amount", "close_date", "forecast_category"})
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class DealState:
    """One row of `state_at`: a deal as it stood at a moment. `is_closed` / `is_won` are the CRM
    row's flags as loaded; `status` is what the stage (else those flags) said then."""

    id: int
    name: object
    stage: object
    amount: float
    currency: object
    close_date: datetime | None
    forecast_category: object
    created_at: datetime | None
    is_closed: bool
    is_won: bool
    status: str
    exists: bool
    amount_rc: float
    cents: int


def state_rows_at(
    deals: Sequence[DealRow], history: Sequence[HistoryRow], moments: list[datetime], config: RevbotConfig
) -> list[list[DealState]]:
    """`states_at` on rows: the same values, in the order of `deals`."""
    ids = {deal.id for deal in deals}
    changes: dict[int, list[HistoryRow]] = {}
    # Oldest first, unreadable times last, as `states_at` sorts (stably) before taking firsts.
    for row in sorted(history, key=lambda r: (r.changed_at is None, r.changed_at or datetime.min)):
        if row.deal_id in ids and row.field in UNDONE_FIELDS and row.changed_at is not None:
            changes.setdefault(row.deal_id, []).append(row)
    status = {s.name.casefold(): s.status for s in config.stages}
    rates: dict[object, float] = {}
    states = []
    for moment in moments:
        at = as_timestamp(moment).to_pydatetime()
        states.append([_state_row(deal, changes.get(deal.id, ()), at, status, rates, config) for deal in deals])
    return states


def _state_row(
    deal: DealRow,
    changes: Sequence[HistoryRow],
    at: datetime,
    status: dict[str, str],
    rates: dict[object, float],
    config: RevbotConfig,
) -> DealState:
    # The old value of each field's first change after `at`, empty included (as `_state`).
    undo: dict[str, str | None] = {}
    for row in changes:
        if row.changed_at > at and row.field not in undo:  # type: ignore[operator]
            undo[row.field] = row.old_value  # type: ignore[index]
    current = deal.amount if deal.amount is not None else 0.0
    amount = current
    if "amount" in undo:
        amount = _history_number(undo["amount"])
        amount = current if amount is None else amount
    close_date = _history_day(undo["close_date"]) if "close_date" in undo else deal.close_date
    stage = undo.get("stage", deal.stage)
    category = undo.get("forecast_category", deal.forecast_category)
    stage_status = status.get(str(stage).casefold())
    if stage_status is None:
        stage_status = ("won" if deal.is_won else "lost") if deal.is_closed else "open"
    if deal.currency not in rates:
        rates[deal.currency] = float(config.fx_rate(deal.currency))
    amount_rc = round2(amount * rates[deal.currency])
    return DealState(
        id=deal.id,
        # Without a name column `_state_columns` fills one with `pd.Series(None, dtype=object)`: NaN.
        name=getattr(deal, "name", float("nan")),
        stage=stage,
        amount=amount,
        currency=deal.currency,
        close_date=close_date,
        forecast_category=category,
        created_at=deal.created_at,
        is_closed=deal.is_closed,
        is_won=deal.is_won,
        status=stage_status,
        exists=deal.created_at is not None and deal.created_at <= at,
        amount_rc=amount_rc,
        cents=round(amount_rc * 100),
    )


def round2(value: float) -> float:
    """`numpy.round(value, 2)` for one float: it scales by 100, rounds half to even and scales
    back, which is not always Python's `round(value, 2)` (that one rounds the exact decimal)."""
    return round(value * 100) / 100


def _history_number(text: str | None) -> float | None:
    """An old amount as `pd.to_numeric(errors="coerce")` reads it; None when it is not a number."""
    if text is None:
        return None
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    if "_" in str(text) or number != number:  # noqa: PLR0124 - float() takes "1_000" and "nan"; pandas does not count them
        return None
    return number


def _history_day(text: str | None) -> datetime | None:
    """An old close date as `pd.to_datetime(format="mixed", errors="coerce").dt.normalize()`."""
    if text is None:
        return None
    if isinstance(text, str) and _ISO_DAY.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    stamp = pd.to_datetime(pd.Series([text], dtype=object), errors="coerce", format="mixed").dt.normalize().iloc[0]
    return None if pd.isna(stamp) else stamp.to_pydatetime()


def _in_pipeline_row(state: DealState, start: datetime | None, end: datetime | None) -> bool:
    if not state.exists or state.status != "open":
        return False
    if start is None or end is None:
        return True
    return state.close_date is not None and start <= state.close_date <= end


def bridge_of_rows(
    before: Sequence[DealState],
    after: Sequence[DealState],
    *,
    start: datetime | date,
    end: datetime | date,
    config: RevbotConfig,
    period: Period | None = None,
) -> Bridge:
    """`bridge_between` on `state_rows_at` rows (same deals, same order)."""
    start_at, end_at = as_timestamp(start).to_pydatetime(), as_timestamp(end).to_pydatetime()
    first, last = (
        (as_timestamp(period.start).to_pydatetime(), as_timestamp(period.end).to_pydatetime())
        if period is not None
        else (None, None)
    )
    order = {s.name.casefold(): i for i, s in enumerate(config.stages)}
    counts = dict.fromkeys(MOVEMENTS, 0)
    deltas = dict.fromkeys(MOVEMENTS, 0)
    values = dict.fromkeys(MOVEMENTS, 0)
    start_total = end_total = 0
    rows: dict[str, list[Any]] = {name: [] for name in ("movement", "stage_movement", "s", "e", "delta")}
    for then, now in zip(before, after, strict=True):
        in_start, in_end = _in_pipeline_row(then, first, last), _in_pipeline_row(now, first, last)
        s_cents = then.cents if in_start else 0
        e_cents = now.cents if in_end else 0
        start_total += s_cents
        end_total += e_cents
        movement = stage_move = ""
        delta = 0
        if in_start and in_end:
            delta = e_cents - s_cents
            movement = "amount_up" if delta > 0 else "amount_down" if delta < 0 else ""
            stage_before = order.get(str(then.stage).casefold(), -1)
            stage_after = order.get(str(now.stage).casefold(), -1)
            stage_move = "advanced" if stage_after > stage_before else "regressed" if stage_after < stage_before else ""
        elif in_end:
            delta = e_cents
            movement = "new" if not then.exists else "pulled_in" if then.status == "open" else "reopened"
        elif in_start:
            delta = -s_cents
            movement = {"won": "won", "lost": "lost", "open": "slipped"}.get(now.status, "")
        if movement:
            counts[movement] += 1
            deltas[movement] += delta
            values[movement] += s_cents if movement in ("won", "lost", "slipped") else e_cents
        if stage_move:
            counts[stage_move] += 1
            values[stage_move] += e_cents
        for name, value in zip(rows, (movement, stage_move, s_cents, e_cents, delta), strict=True):
            rows[name].append(value)
    results = {
        name: Movement(name, counts[name], from_cents(deltas[name]), from_cents(values[name])) for name in MOVEMENTS
    }
    return Bridge(
        start_at=start_at,
        end_at=end_at,
        period=period,
        currency=config.reporting_currency,
        start=from_cents(start_total),
        end=from_cents(end_total),
        movements=results,
        build_deals=lambda: _moved_frame(before, after, rows),
    )


def _moved_frame(before: Sequence[DealState], after: Sequence[DealState], rows: dict[str, list[Any]]) -> pd.DataFrame:
    """`Bridge.deals` of `bridge_of_rows`, built as `bridge_between` builds it (so the same dtypes)."""
    moved = pd.DataFrame(
        {
            "id": pd.array([state.id for state in before], dtype="Int64"),
            "name": pd.Series([state.name for state in before], dtype=object),
            "movement": np.array(rows["movement"], dtype=object),
            "stage_movement": np.array(rows["stage_movement"], dtype=object),
            "start_stage": pd.Series([state.stage for state in before], dtype=object),
            "end_stage": pd.Series([state.stage for state in after], dtype=object),
            "start_amount": np.array(rows["s"], dtype="int64") / 100,
            "end_amount": np.array(rows["e"], dtype="int64") / 100,
            "delta": np.array(rows["delta"], dtype="int64") / 100,
        }
    )
    relevant = [bool(m or s) for m, s in zip(rows["movement"], rows["stage_movement"], strict=True)]
    return moved[np.array(relevant, dtype=bool)].reset_index(drop=True)
