"""The forecast and the pipeline bridge now and a week ago, rebuilding only the deals that changed.

Rebuilding every deal's state a week ago (`metrics.movement.state_at`) is exact but reads every
deal in scope; on a million deals that is most of a minute. A deal created before the moment
and without a `deal_history` row after it stood then exactly as it stands now, so:

- those *unchanged* deals are needed only as sums, grouped the way the forecast reads them
  (`storage.forecast_queries.closing_rollup_sql` minus the changed deals' current rows:
  `unchanged_groups`), and they count the same at both ends;
- the *changed* deals are rebuilt row by row as before (`rebuild_changed`).

The sums are exact to the cent, as if every deal were converted and rounded on its own
(`metrics.money`): amounts in the reporting currency (or at a rate of 1) are whole cents and add
up exactly; amounts in other currencies are grouped by amount as well (`exact_amount`), so each
group is `count ×` one deal's rounded value. The bridge still balances to the cent: unchanged
deals add the same amount to its start and its end and move nothing.

Each step comes twice: on frames (an org's week: tens of thousands of changed deals) and on rows
(`*_rows`: a rep's few hundred values, where pandas' fixed cost per operation would be nine tenths
of the time). They give the same numbers to the cent; tests pin one against the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp
from metrics.money import from_cents, to_cents, to_reporting
from metrics.movement import (
    Bridge,
    DealState,
    bridge_between,
    bridge_of_rows,
    map_by_value,
    round2,
    state_at,
    state_rows_at,
    states_at,
)
from metrics.periods import Period
from metrics.pipeline import forecast_categories
from metrics.revenue import FORECAST_KEYS, Forecast, cumulative_forecast
from storage.config import RevbotConfig
from storage.forecast_queries import DealRow, GroupRow, HistoryRow

# How `closing_rollup_sql` groups deals. `exact_amount` is the deal's amount for currencies that
# `exact_currencies` names, else None (one group for every amount).
GROUP_KEYS = ["stage", "forecast_category", "is_closed", "is_won", "currency", "exact_amount"]


def exact_currencies(config: RevbotConfig) -> list[str]:
    """Currencies converted at a rate other than 1: rounding each deal's converted amount to the
    cent is not the same as rounding their sum, so their sums are kept per distinct amount."""
    return sorted(code for code in config.fx_rates if config.fx_rate(code) != 1.0)


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
    before, after = states_at(deals, history, [start, end], config)
    bridge = bridge_between(before, after, start=start, end=end, config=config, period=period)
    return forecast_state(before, history, start), bridge


def unchanged_groups(
    closing: pd.DataFrame, changed: pd.DataFrame, period: Period, config: RevbotConfig
) -> pd.DataFrame:
    """`closing` groups (deals closing in `period`: GROUP_KEYS, count, amount in own currency)
    without the `changed` deals' current rows that fall in them."""
    columns = [*GROUP_KEYS, "count", "amount"]
    totals: dict[tuple[object, ...], list[float]] = {}
    # Plain Python over the groups and the changed rows: cheaper than a pandas groupby on object
    # keys, and None keys (no category, one group for all amounts) stay keys instead of dropping.
    for key, count, amount in _keyed(closing):
        total = totals.setdefault(key, [0, 0.0])
        total[0] += count
        total[1] += amount
    if len(changed):
        close_date = pd.to_datetime(changed["close_date"], errors="coerce")
        in_period = ((close_date >= as_timestamp(period.start)) & (close_date <= as_timestamp(period.end))).to_numpy()
        rows = changed[in_period]
        exact = rows["currency"].isin(exact_currencies(config)).to_numpy()
        rows = rows.assign(count=1, exact_amount=rows["amount"].where(exact, None))
        for key, count, amount in _keyed(rows):
            total = totals.setdefault(key, [0, 0.0])
            total[0] -= count
            total[1] -= amount
    kept = [(*key, int(count), amount) for key, (count, amount) in totals.items() if count > 0]
    return pd.DataFrame(kept, columns=columns)


def _keyed(frame: pd.DataFrame) -> list[tuple[tuple[object, ...], int, float]]:
    if frame.empty:
        return []
    keys = []
    for name in GROUP_KEYS:
        column = frame[name]
        if name in ("is_closed", "is_won"):
            keys.append(column.fillna(False).astype(bool).tolist())
        elif name == "exact_amount":
            keys.append(
                pd.to_numeric(column, errors="coerce")
                .astype("float64")
                .astype(object)
                .where(column.notna(), None)
                .tolist()
            )
        else:
            keys.append(column.astype(object).where(column.notna(), None).tolist())
    amounts = pd.to_numeric(frame["amount"], errors="coerce").fillna(0.0).tolist()
    counts = frame["count"].astype("int64").tolist()
    return [(key, counts[i], amounts[i]) for i, key in enumerate(zip(*keys, strict=True))]


def group_cents(groups: pd.DataFrame, config: RevbotConfig) -> np.ndarray:
    """Each group's value in the reporting currency in whole cents, as the sum of its deals each
    converted and rounded on its own (see the module docstring)."""
    if groups.empty:
        return np.zeros(0, dtype="int64")
    rates = groups["currency"].astype(object).map(config.fx_rate).astype("float64").to_numpy()
    exact = groups["exact_amount"].notna().to_numpy()
    one = pd.to_numeric(groups["exact_amount"], errors="coerce").fillna(0.0).to_numpy()
    per_deal = to_cents(pd.Series(np.round(one * rates, 2))).to_numpy() * groups["count"].astype("int64").to_numpy()
    summed = to_cents(pd.Series(np.round(groups["amount"].astype("float64").to_numpy() * rates, 2))).to_numpy()
    return np.where(exact, per_deal, summed)


def as_they_stood(groups: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """Unchanged groups with the flags `state_at` gives every deal: closed and won as their stage
    is configured, else as the CRM row says."""
    status = {s.name.casefold(): s.status for s in config.stages}
    frame = groups.copy()
    by_stage = map_by_value(frame["stage"], lambda s: status.get(str(s).casefold()))
    current = np.where(frame["is_closed"].astype(bool), np.where(frame["is_won"].astype(bool), "won", "lost"), "open")
    stood = by_stage.fillna(pd.Series(current, index=frame.index))
    frame["is_closed"] = (stood != "open").to_numpy()
    frame["is_won"] = (stood == "won").to_numpy()
    return frame


def forecast_of(groups: pd.DataFrame, deals: pd.DataFrame, period: Period, config: RevbotConfig) -> Forecast:
    """`metrics.revenue.forecast` over unchanged `groups` (all closing in `period`) and `deals`
    (each already as it stood): each group is one row worth its exact cents. Summed here rather
    than through `forecast`, whose preparation of every deal column cost more than the sums."""
    parts = []
    if len(groups):
        parts.append((groups, group_cents(groups, config)))
    if len(deals):
        own = deals if "amount_rc" in deals else to_reporting(deals, config)
        close_date = pd.to_datetime(own["close_date"], errors="coerce")
        closing = own[
            ((close_date >= as_timestamp(period.start)) & (close_date <= as_timestamp(period.end))).to_numpy()
        ]
        parts.append((closing, to_cents(closing["amount_rc"]).to_numpy()))
    totals = dict.fromkeys(FORECAST_KEYS, 0)
    for rows, cents in parts:
        flags = rows.assign(
            is_closed=rows["is_closed"].fillna(False).astype(bool), is_won=rows["is_won"].fillna(False).astype(bool)
        )
        categories = forecast_categories(flags, config).to_numpy(dtype=object)
        closed = flags["is_closed"].to_numpy(dtype=bool)
        for category, is_closed in FORECAST_KEYS:
            totals[(category, is_closed)] += int(cents[(categories == category) & (closed == is_closed)].sum())
    return cumulative_forecast(totals, period, config)


def open_cents(groups: pd.DataFrame, config: RevbotConfig) -> int:
    """Cents of the open pipeline in `groups` (flags as they stood: see `as_they_stood`)."""
    if groups.empty:
        return 0
    stood = as_they_stood(groups, config)
    return int(group_cents(stood, config)[~stood["is_closed"].to_numpy()].sum())


def with_unchanged(bridge: Bridge, unchanged_cents: int) -> Bridge:
    """The bridge of the changed deals plus unchanged open pipeline, which is in both ends and
    moves nothing: start and end both grow by it, the movements stay."""
    return Bridge(
        start_at=bridge.start_at,
        end_at=bridge.end_at,
        period=bridge.period,
        currency=bridge.currency,
        start=from_cents(round(bridge.start * 100) + unchanged_cents),
        end=from_cents(round(bridge.end * 100) + unchanged_cents),
        movements=bridge.movements,
        build_deals=bridge.build_deals,
    )


# --- the same on rows --------------------------------------------------------------------------


class Valued(NamedTuple):
    """What the forecast reads of one deal: its category inputs, close date and value in cents."""

    stage: object
    forecast_category: object
    is_closed: bool
    is_won: bool
    close_date: datetime | None
    cents: int


def rebuild_changed_rows(
    deals: Sequence[DealRow],
    history: Sequence[HistoryRow],
    *,
    start: datetime,
    end: datetime,
    period: Period,
    config: RevbotConfig,
) -> tuple[list[Valued], Bridge]:
    """`rebuild_changed` on rows."""
    before, after = state_rows_at(deals, history, [start, end], config)
    bridge = bridge_of_rows(before, after, start=start, end=end, config=config, period=period)
    return forecast_state_rows(before, history, start), bridge


def forecast_state_rows(states: Sequence[DealState], history: Sequence[HistoryRow], moment: datetime) -> list[Valued]:
    """`forecast_state` on rows: the deals that existed at `moment`, flagged as their stage said."""
    blanked: set[int] = set()
    if history:
        at = as_timestamp(moment).to_pydatetime()
        later = [row for row in history if row.changed_at is not None and row.changed_at > at]
        category_changed = {row.deal_id for row in later if row.field == "forecast_category"}
        blanked = {row.deal_id for row in later if row.field == "stage"} - category_changed
    return [
        Valued(
            stage=state.stage,
            forecast_category=None if state.id in blanked else state.forecast_category,
            is_closed=state.status != "open",
            is_won=state.status == "won",
            close_date=state.close_date,
            cents=state.cents,
        )
        for state in states
        if state.exists
    ]


def valued_now(deals: Sequence[DealRow], config: RevbotConfig) -> list[Valued]:
    """The changed deals as they stand, valued at today's rates (`to_reporting`, then cents)."""
    rates: dict[object, float] = {}
    valued = []
    for deal in deals:
        if deal.currency not in rates:
            rates[deal.currency] = float(config.fx_rate(deal.currency))
        amount_rc = round2((deal.amount if deal.amount is not None else 0.0) * rates[deal.currency])
        cents = round(amount_rc * 100)
        valued.append(Valued(deal.stage, deal.forecast_category, deal.is_closed, deal.is_won, deal.close_date, cents))
    return valued


def unchanged_group_rows(
    closing: Sequence[GroupRow], changed: Sequence[DealRow], period: Period, config: RevbotConfig
) -> list[GroupRow]:
    """`unchanged_groups` on rows, keeping its order and its float sums' order."""
    totals: dict[tuple[object, ...], list[float]] = {}
    for group in closing:
        total = totals.setdefault(group[:6], [0, 0.0])
        total[0] += group.count
        total[1] += group.amount if group.amount is not None else 0.0
    exact = set(exact_currencies(config))
    first, last = _bounds(period)
    for deal in changed:
        if deal.close_date is None or not first <= deal.close_date <= last:
            continue
        exact_amount = deal.amount if deal.currency in exact else None
        key = (deal.stage, deal.forecast_category, deal.is_closed, deal.is_won, deal.currency, exact_amount)
        total = totals.setdefault(key, [0, 0.0])
        total[0] -= 1
        total[1] -= deal.amount if deal.amount is not None else 0.0
    return [GroupRow(*key, int(count), amount) for key, (count, amount) in totals.items() if count > 0]  # type: ignore[arg-type]


def _bounds(period: Period) -> tuple[datetime, datetime]:
    return as_timestamp(period.start).to_pydatetime(), as_timestamp(period.end).to_pydatetime()


def group_cents_of(group: GroupRow, rate: float) -> int:
    """`group_cents` of one group at its currency's `rate`."""
    if group.exact_amount is not None:
        return round(round2(group.exact_amount * rate) * 100) * group.count
    return round(round2((group.amount if group.amount is not None else 0.0) * rate) * 100)


def valued_groups(groups: Iterable[GroupRow], config: RevbotConfig, *, as_they_stood: bool) -> list[Valued]:
    """Each group as one `Valued` row worth its exact cents; with `as_they_stood`, closed and won
    as its stage is configured (`as_they_stood`), else as the CRM rows say."""
    status = {s.name.casefold(): s.status for s in config.stages}
    rates: dict[object, float] = {}
    valued = []
    for group in groups:
        if group.currency not in rates:
            rates[group.currency] = float(config.fx_rate(group.currency))
        is_closed, is_won = bool(group.is_closed), bool(group.is_won)
        if as_they_stood:
            stood = status.get(str(group.stage).casefold())
            if stood is not None:
                is_closed, is_won = stood != "open", stood == "won"
        valued.append(
            Valued(
                group.stage,
                group.forecast_category,
                is_closed,
                is_won,
                None,
                group_cents_of(group, rates[group.currency]),
            )
        )
    return valued


def forecast_of_rows(
    groups: Sequence[Valued], deals: Sequence[Valued], period: Period, config: RevbotConfig
) -> Forecast:
    """`forecast_of` on rows: `groups` all close in `period`, `deals` count when they close in it."""
    by_stage = {stage.name.casefold(): stage.forecast_category for stage in config.stages}
    first, last = _bounds(period)
    closing = [deal for deal in deals if deal.close_date is not None and first <= deal.close_date <= last]
    totals = dict.fromkeys(FORECAST_KEYS, 0)
    for row in [*groups, *closing]:
        key = (_category(row, by_stage), row.is_closed)
        if key in totals:
            totals[key] += row.cents
    return cumulative_forecast(totals, period, config)


def _category(row: Valued, by_stage: dict[str, str | None]) -> object:
    """`metrics.pipeline.forecast_categories` of one row."""
    if row.is_closed:
        return "Closed" if row.is_won else "Omitted"
    if row.forecast_category is not None:
        return row.forecast_category
    from_stage = by_stage.get(str(row.stage).casefold()) if row.stage is not None else None
    return from_stage if from_stage is not None else "Pipeline"


def open_cents_rows(groups: Sequence[GroupRow], config: RevbotConfig) -> int:
    """`open_cents` on rows."""
    return sum(row.cents for row in valued_groups(groups, config, as_they_stood=True) if not row.is_closed)
