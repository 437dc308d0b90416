"""The forecast and the pipeline bridge now and a week ago, rebuilding only the deals that changed.

Rebuilding every deal's state a week ago (`metrics.movement.state_at`) is exact but reads every
deal in scope; on a million deals that is most of a minute. A deal created before the moment
and without a `deal_history` row after it stood then exactly as it stands now, so:

- those *unchanged* deals are needed only as sums, grouped the way the forecast reads them
  (`storage.forecast_queries.closing_rollup_sql` minus the changed deals' current rows:
  `unchanged_groups`), and count the same at both ends;
- the *changed* deals are rebuilt row by row as before (`state_for_forecast`, `pipeline_bridge`).

Both ends treat the unchanged deals the same way (one group sum converted and rounded once), so a
quiet week shows "no change" exactly, and the bridge still balances to the cent: the unchanged
deals add the same amount to its start and its end and move nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp
from metrics.money import from_cents, to_cents
from metrics.movement import Bridge, bridge_between, state_at
from metrics.periods import Period
from metrics.revenue import Forecast, forecast, forecast_from_aggregate
from storage.config import RevbotConfig

GROUP_KEYS = ["stage", "forecast_category", "is_closed", "is_won", "currency"]


def state_for_forecast(
    deals: pd.DataFrame, history: pd.DataFrame, moment: datetime, config: RevbotConfig
) -> pd.DataFrame:
    """The deals as they were at `moment`, shaped for `metrics.revenue.forecast`.

    A deal whose stage changed since `moment` without a recorded forecast-category change gets
    no category, so its stage's configured category applies rather than today's.
    """
    return forecast_state(state_at(deals, history, moment, config), history, moment)


def forecast_state(state: pd.DataFrame, history: pd.DataFrame, moment: datetime) -> pd.DataFrame:
    """`state_for_forecast` from a `state_at(..., moment, ...)` frame already at hand."""
    state = state[state["exists"]].copy()
    state["is_closed"] = state["status"] != "open"
    state["is_won"] = state["status"] == "won"
    if history is None or history.empty:
        return state
    later = history[pd.to_datetime(history["changed_at"]) > pd.Timestamp(moment)]
    category_changed = set(later.loc[later["field"] == "forecast_category", "deal_id"].astype(int))
    stage_changed = set(later.loc[later["field"] == "stage", "deal_id"].astype(int)) - category_changed
    state["forecast_category"] = (
        state["forecast_category"].astype(object).where(~state["id"].astype(int).isin(stage_changed), None)
    )
    return state


def rebuild_changed(
    deals: pd.DataFrame,
    history: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    period: Period,
    config: RevbotConfig,
) -> tuple[pd.DataFrame, Bridge]:
    """The changed deals as they stood at `start` (for the forecast then) and their pipeline
    bridge to `end`, rebuilding each end once (`pipeline_bridge` and `state_for_forecast` would
    rebuild the start twice)."""
    before = state_at(deals, history, start, config)
    after = state_at(deals, history, end, config)
    bridge = bridge_between(before, after, start=start, end=end, config=config, period=period)
    return forecast_state(before, history, start), bridge


def unchanged_groups(closing: pd.DataFrame, changed: pd.DataFrame, period: Period) -> pd.DataFrame:
    """`closing` groups (deals closing in `period`: GROUP_KEYS, count, amount in own currency)
    without the `changed` deals' current rows that fall in them."""
    columns = [*GROUP_KEYS, "count", "amount"]
    if changed.empty:
        return closing[columns].copy() if len(closing) else pd.DataFrame(columns=columns)
    close_date = pd.to_datetime(changed["close_date"], errors="coerce")
    in_period = (close_date >= as_timestamp(period.start)) & (close_date <= as_timestamp(period.end))
    rows = changed.loc[in_period, GROUP_KEYS].copy()
    rows["count"] = -1
    rows["amount"] = -pd.to_numeric(changed.loc[in_period, "amount"], errors="coerce").fillna(0.0)
    parts = [part for part in (closing[columns] if len(closing) else None, rows) if part is not None and len(part)]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    for flag in ("is_closed", "is_won"):
        frame[flag] = frame[flag].fillna(False).astype(bool)
    # Keys may be missing (no category, no currency): keep those groups rather than drop them.
    keys = frame[GROUP_KEYS].astype(object).where(frame[GROUP_KEYS].notna(), "\0none")
    summed = frame.assign(**{k: keys[k] for k in GROUP_KEYS}).groupby(GROUP_KEYS, sort=False, dropna=False).agg(
        count=("count", "sum"), amount=("amount", "sum")
    )
    summed = summed[summed["count"] > 0].reset_index()
    for key in GROUP_KEYS:
        summed[key] = summed[key].astype(object).where(summed[key] != "\0none", None)
    return summed[columns]


def as_they_stood(groups: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """Unchanged groups with the flags `state_at` gives every deal: closed and won as their stage
    is configured, else as the CRM row says."""
    status = {s.name.casefold(): s.status for s in config.stages}
    frame = groups.copy()
    by_stage = frame["stage"].astype(object).map(lambda s: status.get(str(s).casefold()))
    current = np.where(frame["is_closed"].astype(bool), np.where(frame["is_won"].astype(bool), "won", "lost"), "open")
    stood = by_stage.fillna(pd.Series(current, index=frame.index))
    frame["is_closed"] = (stood != "open").to_numpy()
    frame["is_won"] = (stood == "won").to_numpy()
    return frame


def group_cents(groups: pd.DataFrame, config: RevbotConfig) -> pd.Series:
    """Each group's amount in the reporting currency, in whole cents (converted, then rounded)."""
    if groups.empty:
        return pd.Series(dtype="int64")
    rates = groups["currency"].astype(object).map(lambda code: config.fx_rate(code)).astype("float64")
    return to_cents(np.round(groups["amount"].astype("float64") * rates, 2))


def forecast_of(
    groups: pd.DataFrame, deals: pd.DataFrame, period: Period, config: RevbotConfig
) -> Forecast:
    """The forecast of unchanged `groups` plus the `deals` rows (each already as they stood)."""
    from_groups = forecast_from_aggregate(groups, period, config=config) if len(groups) else None
    from_rows = forecast(deals, period, config=config)
    if from_groups is None:
        return from_rows
    return add_forecasts(from_groups, from_rows)


def add_forecasts(a: Forecast, b: Forecast) -> Forecast:
    """a + b, summed in cents so the result is exact to the cent."""

    def plus(x: float, y: float) -> float:
        return from_cents(round(x * 100) + round(y * 100))

    return replace(
        a,
        closed=plus(a.closed, b.closed),
        commit=plus(a.commit, b.commit),
        best_case=plus(a.best_case, b.best_case),
        pipeline=plus(a.pipeline, b.pipeline),
    )


def open_cents(groups: pd.DataFrame, config: RevbotConfig) -> int:
    """Cents of the open pipeline in `groups` (flags as they stood: see `as_they_stood`)."""
    if groups.empty:
        return 0
    stood = as_they_stood(groups, config)
    return int(group_cents(stood, config)[~stood["is_closed"].to_numpy()].sum())


def with_unchanged(bridge: Bridge, unchanged_cents: int) -> Bridge:
    """The bridge of the changed deals plus unchanged open pipeline, which is in both ends and
    moves nothing: start and end both grow by it, the movements stay."""
    return replace(
        bridge,
        start=from_cents(round(bridge.start * 100) + unchanged_cents),
        end=from_cents(round(bridge.end * 100) + unchanged_cents),
    )
