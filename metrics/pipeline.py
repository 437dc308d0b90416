"""Pipeline value and volume: what is open, what it is worth, what is late or stuck.

Definitions (see docs/metrics.md):
- open pipeline = deals with `is_closed` false, in the reporting currency;
- weighted = Σ amount × stage probability / 100, using the probability configured for the deal's
  stage (the admin's weights, the same across CRMs), or the deal's own probability when its stage
  is not in config, or 0;
- past due = open deals whose close date is before today;
- stalled = open deals with no activity for `pipeline.stalled_after_days` days (created date when
  there was never any), or in their current stage more than `pipeline.stalled_stage_multiple` ×
  the median time deals spend in that stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp, days_between, prepare_deals
from metrics.money import from_cents, to_cents
from metrics.periods import Period
from storage.config import RevbotConfig

BY_STAGE_COLUMNS = ["stage", "count", "amount", "weighted"]
BY_CATEGORY_COLUMNS = ["forecast_category", "count", "amount"]
CATEGORY_ORDER = ["Commit", "Best Case", "Pipeline", "Omitted", "Closed"]


@dataclass(frozen=True)
class PipelineSummary:
    """Open pipeline in the reporting currency.

    `total`, `weighted`, `count`, `by_stage` and `by_forecast_category` cover every open deal (the
    book, whatever its close date); `closing_in_period_*` only open deals closing in `period`;
    `created_in_period_*` deals created in `period`, open or not.
    """

    period: Period
    currency: str
    total: float
    weighted: float
    count: int
    by_stage: pd.DataFrame
    by_forecast_category: pd.DataFrame
    closing_in_period: float
    closing_in_period_count: int
    closing_in_period_weighted: float
    created_in_period: float
    created_in_period_count: int
    past_due: pd.DataFrame
    stalled: pd.DataFrame
    # Totals over ALL past-due / stalled deals (the frames above may be only the first rows of the
    # SQL fast path, see `summary_from_rollup`).
    past_due_count: int = 0
    past_due_amount: float = 0.0
    stalled_count: int = 0
    stalled_amount: float = 0.0


def stage_probabilities(deals: pd.DataFrame, config: RevbotConfig) -> pd.Series:
    """Percent 0–100 per deal: the configured stage probability, else the deal's own, else 0."""
    configured = {stage.name.casefold(): stage.probability for stage in config.stages}
    probability = _folded(deals["stage"]).map(configured).astype("float64")
    own = pd.to_numeric(deals["probability"], errors="coerce") if "probability" in deals else np.nan
    return probability.fillna(own).fillna(0.0).clip(0, 100)


def forecast_categories(deals: pd.DataFrame, config: RevbotConfig) -> pd.Series:
    """Each deal's forecast category: the CRM's value, else its stage's configured category;
    won deals are always Closed and lost deals Omitted."""
    by_stage = {stage.name.casefold(): stage.forecast_category for stage in config.stages}
    from_stage = _folded(deals["stage"]).map(by_stage).fillna("Pipeline").astype(object)
    category = deals["forecast_category"].astype(object).where(deals["forecast_category"].notna(), from_stage)
    category = category.where(~(deals["is_closed"] & deals["is_won"]), "Closed")
    return category.where(~(deals["is_closed"] & ~deals["is_won"]), "Omitted")


def _folded(stages: pd.Series) -> pd.Series:
    return stages.astype("string").str.casefold()


def _open(deals: pd.DataFrame) -> pd.DataFrame:
    return deals[~deals["is_closed"]]


def _with_weighted(deals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    frame = deals.copy()
    frame["stage_probability"] = stage_probabilities(frame, config)
    frame["weighted_rc"] = np.round(frame["amount_rc"] * frame["stage_probability"] / 100, 2)
    return frame


def _stage_sort_key(stages: pd.Series, config: RevbotConfig) -> pd.Series:
    return stages.map(lambda s: config.stage_order(s))


def pipeline_by_stage(deals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """Open deals by stage in funnel order: stage, count, amount, weighted (reporting currency)."""
    frame = _with_weighted(_open(prepare_deals(deals, config)), config)
    if frame.empty:
        return pd.DataFrame({"stage": [], "count": [], "amount": [], "weighted": []}).astype(
            {"count": "int64", "amount": "float64", "weighted": "float64"}
        )
    grouped = (
        frame.groupby("stage", dropna=False)
        .agg(count=("amount_rc", "size"), amount=("amount_rc", "sum"), weighted=("weighted_rc", "sum"))
        .reset_index()
    )
    return _order_stages(grouped, config)


def _order_stages(grouped: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    grouped = grouped.assign(_order=_stage_sort_key(grouped["stage"], config))
    grouped = grouped.sort_values(["_order", "stage"]).drop(columns="_order").reset_index(drop=True)
    grouped["count"] = grouped["count"].astype("int64")
    grouped["amount"] = grouped["amount"].astype("float64").round(2)
    grouped["weighted"] = grouped["weighted"].astype("float64").round(2)
    return grouped[BY_STAGE_COLUMNS]


def by_stage_from_aggregate(aggregate: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`storage.queries.pipeline_by_stage_sql` rows (stage, currency, count, amount) → the same frame
    as `pipeline_by_stage`, converted and weighted per (stage, currency) group."""
    if aggregate.empty:
        return pipeline_by_stage(pd.DataFrame(), config)
    frame = aggregate.copy()
    frame["probability"] = np.nan
    frame["amount_rc"] = np.round(
        frame["amount"].astype("float64") * frame["currency"].map(config.fx_rate).astype("float64"), 2
    )
    frame["weighted_rc"] = np.round(frame["amount_rc"] * stage_probabilities(frame, config) / 100, 2)
    grouped = (
        frame.groupby("stage", dropna=False)
        .agg(count=("count", "sum"), amount=("amount_rc", "sum"), weighted=("weighted_rc", "sum"))
        .reset_index()
    )
    return _order_stages(grouped, config)


def pipeline_by_forecast_category(deals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """Open deals by forecast category (Commit, Best Case, Pipeline, Omitted): count, amount."""
    frame = _open(prepare_deals(deals, config))
    frame = frame.assign(forecast_category=forecast_categories(frame, config))
    grouped = (
        frame.groupby("forecast_category")
        .agg(count=("amount_rc", "size"), amount=("amount_rc", "sum"))
        .reindex([c for c in CATEGORY_ORDER if c in set(frame["forecast_category"])])
        .reset_index()
    )
    grouped["count"] = grouped["count"].astype("int64")
    grouped["amount"] = grouped["amount"].astype("float64").round(2)
    return grouped[BY_CATEGORY_COLUMNS]


def past_due_deals(deals: pd.DataFrame, *, today: date, config: RevbotConfig) -> pd.DataFrame:
    """Open deals whose close date is before today, most overdue first; adds `days_overdue`."""
    frame = _open(prepare_deals(deals, config))
    now = as_timestamp(today)
    late = frame[frame["close_date"].notna() & (frame["close_date"] < now)].copy()
    late["days_overdue"] = days_between(now, late["close_date"]).astype("int64")
    return late.sort_values(["close_date", "amount_rc"], ascending=[True, False]).reset_index(drop=True)


def stage_age_medians(deals: pd.DataFrame, *, today: date) -> dict[str, float]:
    """Median days open deals have been in their current stage, per stage: the stand-in for
    historical medians when no `deal_history` is at hand (a frame without `is_closed` is taken as
    all open, e.g. `storage.queries.open_stage_ages_sql`)."""
    if deals.empty or "stage_entered_at" not in deals:
        return {}
    entered = pd.to_datetime(deals["stage_entered_at"], errors="coerce")
    is_open = ~deals["is_closed"].fillna(False).astype(bool) if "is_closed" in deals else True
    frame = deals.assign(stage_entered_at=entered)[is_open & entered.notna()]
    if frame.empty:
        return {}
    ages = days_between(as_timestamp(today), frame["stage_entered_at"])
    return {str(stage): float(median) for stage, median in ages.groupby(frame["stage"]).median().items()}


def stalled_deals(
    deals: pd.DataFrame,
    *,
    today: date,
    config: RevbotConfig,
    stage_medians: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Open deals that look stuck, biggest first, with a `reason` in words.

    Stalled when days since the last activity (or since creation, if none) ≥
    `config.pipeline.stalled_after_days`, or when days in the current stage > `stalled_stage_multiple`
    × the stage's median days (`stage_medians`, e.g. `metrics.velocity.median_days_in_stage` from
    history; without it, the median age in stage of the open deals given). A median of 0 days
    is ignored (it would flag everything).
    """
    frame = _open(prepare_deals(deals, config)).copy()
    now = as_timestamp(today)
    rules = config.pipeline
    medians = dict(stage_medians) if stage_medians is not None else stage_age_medians(frame, today=today)
    last_touch = frame["last_activity_at"].fillna(frame["created_at"])
    frame["days_since_activity"] = days_between(now, last_touch)
    frame["days_in_stage"] = days_between(now, frame["stage_entered_at"])
    frame["stage_median_days"] = frame["stage"].astype(object).map(lambda s: medians.get(str(s))).astype("float64")
    idle = frame["days_since_activity"] >= rules.stalled_after_days
    slow = (frame["stage_median_days"] > 0) & (
        frame["days_in_stage"] > rules.stalled_stage_multiple * frame["stage_median_days"]
    )
    stalled = frame[idle | slow].copy()
    stalled["reason"] = [
        _stall_reason(row, bool(i), bool(s))
        for row, i, s in zip(stalled.itertuples(index=False), idle[idle | slow], slow[idle | slow], strict=True)
    ]
    return stalled.sort_values(["amount_rc", "id"], ascending=[False, True]).reset_index(drop=True)


def _stall_reason(row: object, idle: bool, slow: bool) -> str:
    parts = []
    if idle:
        parts.append(f"no activity for {int(row.days_since_activity)} days")  # type: ignore[attr-defined]
    if slow:
        parts.append(
            f"in {row.stage} for {int(row.days_in_stage)} days "  # type: ignore[attr-defined]
            f"(median {row.stage_median_days:g})"  # type: ignore[attr-defined]
        )
    return "; ".join(parts)


def pipeline_summary(
    deals: pd.DataFrame,
    *,
    period: Period,
    config: RevbotConfig,
    today: date,
    stage_medians: Mapping[str, float] | None = None,
) -> PipelineSummary:
    """The /pipeline numbers for the deals given (normally `storage.queries.load_pipeline_deals`)."""
    frame = _with_weighted(prepare_deals(deals, config), config)
    open_deals = frame[~frame["is_closed"]]
    start, end = as_timestamp(period.start), as_timestamp(period.end)
    closing = open_deals[(open_deals["close_date"] >= start) & (open_deals["close_date"] <= end)]
    created = frame[
        (frame["created_at"] >= as_timestamp(period.start_datetime))
        & (frame["created_at"] < as_timestamp(period.end_exclusive_datetime))
    ]
    past_due = past_due_deals(open_deals, today=today, config=config)
    stalled = stalled_deals(open_deals, today=today, config=config, stage_medians=stage_medians)
    return PipelineSummary(
        period=period,
        currency=config.reporting_currency,
        total=_sum(open_deals["amount_rc"]),
        weighted=_sum(open_deals["weighted_rc"]),
        count=len(open_deals),
        by_stage=pipeline_by_stage(open_deals, config),
        by_forecast_category=pipeline_by_forecast_category(open_deals, config),
        closing_in_period=_sum(closing["amount_rc"]),
        closing_in_period_count=len(closing),
        closing_in_period_weighted=_sum(closing["weighted_rc"]),
        created_in_period=_sum(created["amount_rc"]),
        created_in_period_count=len(created),
        past_due=past_due,
        stalled=stalled,
        past_due_count=len(past_due),
        past_due_amount=_sum(past_due["amount_rc"]),
        stalled_count=len(stalled),
        stalled_amount=_sum(stalled["amount_rc"]),
    )


def summary_from_rollup(
    rollup: pd.DataFrame,
    *,
    past_due: pd.DataFrame,
    stalled: pd.DataFrame,
    period: Period,
    config: RevbotConfig,
    today: date,
    stage_medians: Mapping[str, float],
) -> PipelineSummary:
    """The same `PipelineSummary` from the SQL fast path: `storage.queries.pipeline_rollup_sql`
    groups for the numbers, `past_due_rows_sql` / `stalled_rows_sql` for the first rows of the lists
    (their totals come from the groups). Weighted amounts are rounded per (stage, currency) group
    here and per deal in `pipeline_summary`, so the two can differ by a few cents."""
    frame = rollup.copy()
    if frame.empty:
        frame = pd.DataFrame(
            {
                name: pd.Series(dtype=bool)
                for name in ("is_closed", "is_won", "closing", "created", "past_due", "stalled")
            }
        ).assign(stage=None, forecast_category=None, currency=None, count=0, amount=0.0)
    frame["probability"] = np.nan
    rates = frame["currency"].map(config.fx_rate).astype("float64") if len(frame) else 1.0
    frame["amount_rc"] = np.round(frame["amount"].astype("float64") * rates, 2)
    frame["weighted_rc"] = np.round(frame["amount_rc"] * stage_probabilities(frame, config) / 100, 2)
    frame["cents"] = to_cents(frame["amount_rc"]) if len(frame) else pd.Series(dtype="int64")
    open_groups = frame[~frame["is_closed"].astype(bool)]
    closing = open_groups[open_groups["closing"]]
    created = frame[frame["created"]]
    late = open_groups[open_groups["past_due"]]
    stuck = open_groups[open_groups["stalled"]]
    by_category = open_groups.assign(forecast_category=forecast_categories(open_groups, config))
    categories = by_category.groupby("forecast_category").agg(count=("count", "sum"), amount=("amount_rc", "sum"))
    categories = categories.reindex([c for c in CATEGORY_ORDER if c in categories.index]).reset_index()
    categories["count"] = categories["count"].astype("int64")
    categories["amount"] = categories["amount"].astype("float64").round(2)
    return PipelineSummary(
        period=period,
        currency=config.reporting_currency,
        total=_sum(open_groups["amount_rc"]),
        weighted=_sum(open_groups["weighted_rc"]),
        count=int(open_groups["count"].sum()),
        by_stage=by_stage_from_aggregate(open_groups[["stage", "currency", "count", "amount"]], config),
        by_forecast_category=categories[BY_CATEGORY_COLUMNS],
        closing_in_period=_sum(closing["amount_rc"]),
        closing_in_period_count=int(closing["count"].sum()),
        closing_in_period_weighted=_sum(closing["weighted_rc"]),
        created_in_period=_sum(created["amount_rc"]),
        created_in_period_count=int(created["count"].sum()),
        past_due=past_due_deals(past_due, today=today, config=config),
        stalled=stalled_deals(stalled, today=today, config=config, stage_medians=stage_medians),
        past_due_count=int(late["count"].sum()),
        past_due_amount=_sum(late["amount_rc"]),
        stalled_count=int(stuck["count"].sum()),
        stalled_amount=_sum(stuck["amount_rc"]),
    )


def _sum(values: pd.Series) -> float:
    return from_cents(to_cents(values).sum()) if len(values) else 0.0
