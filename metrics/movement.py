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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from metrics.frames import DEAL_DEFAULTS, as_timestamp, ensure_datetime
from metrics.money import from_cents, to_reporting
from metrics.periods import Period
from storage.config import RevbotConfig

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
    deals: pd.DataFrame = field(repr=False)  # one row per deal: id, name, movement, start_amount, end_amount

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
        firsts = later.groupby(["deal_id", "field"], sort=False)["old_value"].first()
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
    stage_status = frame["stage"].astype(object).map(lambda s: status.get(str(s).casefold()))
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
    stage_before = before["stage"].astype(object).map(lambda s: order.get(str(s).casefold(), -1)).to_numpy()
    stage_after = after["stage"].astype(object).map(lambda s: order.get(str(s).casefold(), -1)).to_numpy()
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
        deals=moved[relevant].reset_index(drop=True),
    )
