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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp, days_between, prepare_deals
from metrics.money import from_cents, to_cents
from metrics.periods import Period
from storage.config import RevbotConfig
from storage.queries import PipelineGroup

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


def past_due_records(
    deals: Iterable[Mapping[str, Any]], *, today: date, config: RevbotConfig
) -> list[dict[str, Any]]:
    """`past_due_deals` for a handful of deals given as `storage.queries.deal_records`, in plain
    Python (pandas costs milliseconds per call even on ten rows)."""
    late = []
    for deal in deals:
        close = _day(deal.get("close_date"))
        if deal.get("is_closed") or close is None or close >= today:
            continue
        late.append({**deal, "amount_rc": _amount_rc(deal, config), "days_overdue": (today - close).days})
    late.sort(key=lambda d: (d["close_date"], -d["amount_rc"]))
    return late


def stalled_records(
    deals: Iterable[Mapping[str, Any]],
    *,
    today: date,
    config: RevbotConfig,
    stage_medians: Mapping[str, float],
) -> list[dict[str, Any]]:
    """`stalled_deals` (with its `reason` in words) for a handful of deals given as
    `storage.queries.deal_records` and the medians they were picked with, in plain Python."""
    rules = config.pipeline
    stuck = []
    for deal in deals:
        if deal.get("is_closed"):
            continue
        touched = _day(deal.get("last_activity_at") or deal.get("created_at"))
        entered = _day(deal.get("stage_entered_at"))
        since_activity = math.nan if touched is None else float((today - touched).days)
        in_stage = math.nan if entered is None else float((today - entered).days)
        median = stage_medians.get(str(deal.get("stage")))
        median = math.nan if median is None else float(median)
        idle = since_activity >= rules.stalled_after_days
        slow = median > 0 and in_stage > rules.stalled_stage_multiple * median
        if not (idle or slow):
            continue
        described = {
            **deal,
            "amount_rc": _amount_rc(deal, config),
            "days_since_activity": since_activity,
            "days_in_stage": in_stage,
            "stage_median_days": median,
        }
        reasons = []
        if idle:
            reasons.append(f"no activity for {int(since_activity)} days")
        if slow:
            reasons.append(f"in {deal.get('stage')} for {int(in_stage)} days (median {median:g})")
        stuck.append({**described, "reason": "; ".join(reasons)})
    stuck.sort(key=lambda d: (-d["amount_rc"], d["id"]))
    return stuck


def _day(value: object) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]


def _amount_rc(deal: Mapping[str, Any], config: RevbotConfig) -> float:
    return round(float(deal.get("amount") or 0.0) * config.fx_rate(deal.get("currency")) * 100) / 100


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
    """`summary_from_groups` for a `storage.queries.pipeline_rollup_sql` frame and the first rows
    of the lists as frames (`past_due_rows_sql`, `stalled_rows_sql`)."""
    return summary_from_groups(
        groups_from_frame(rollup),
        past_due=past_due_deals(past_due, today=today, config=config),
        stalled=stalled_deals(stalled, today=today, config=config, stage_medians=stage_medians),
        period=period,
        config=config,
    )


@dataclass(frozen=True)
class PipelineTotals:
    """A `PipelineSummary`'s numbers without its frames, in plain Python: what /pipeline renders.
    `by_stage` and `by_forecast_category` are the rows of the summary's frames, in the same order."""

    period: Period
    currency: str
    total: float
    weighted: float
    count: int
    by_stage: list[dict[str, Any]]  # stage, count, amount, weighted
    by_forecast_category: list[dict[str, Any]]  # forecast_category, count, amount
    closing_in_period: float
    closing_in_period_count: int
    closing_in_period_weighted: float
    created_in_period: float
    created_in_period_count: int
    past_due_count: int
    past_due_amount: float
    stalled_count: int
    stalled_amount: float


def totals_from_groups(groups: Sequence[PipelineGroup], *, period: Period, config: RevbotConfig) -> PipelineTotals:
    """Every total of `pipeline_summary` from the groups of `storage.queries.pipeline_groups_sql`.

    Plain Python over a few dozen groups: pandas costs more than the whole SQL query here. Amounts
    are converted and rounded to the cent per group, then summed in whole cents. Weighted amounts
    are rounded per (stage, currency, ...) group here and per deal in `pipeline_summary`, so the two
    can differ by a few cents."""
    valued = GroupValue.all(groups, config)
    open_groups = [v for v in valued if not v.group.is_closed]
    closing = [v for v in open_groups if v.group.closing]
    late = [v for v in open_groups if v.group.past_due]
    stuck = [v for v in open_groups if v.group.stalled]
    created = [v for v in valued if v.group.created]
    return PipelineTotals(
        period=period,
        currency=config.reporting_currency,
        total=_cents_total(v.cents for v in open_groups),
        weighted=_cents_total(v.weighted_cents for v in open_groups),
        count=sum(v.group.count for v in open_groups),
        by_stage=_by_stage_rows(open_groups, config),
        by_forecast_category=_by_category_rows(open_groups),
        closing_in_period=_cents_total(v.cents for v in closing),
        closing_in_period_count=sum(v.group.count for v in closing),
        closing_in_period_weighted=_cents_total(v.weighted_cents for v in closing),
        created_in_period=_cents_total(v.cents for v in created),
        created_in_period_count=sum(v.group.count for v in created),
        past_due_count=sum(v.group.count for v in late),
        past_due_amount=_cents_total(v.cents for v in late),
        stalled_count=sum(v.group.count for v in stuck),
        stalled_amount=_cents_total(v.cents for v in stuck),
    )


def summary_from_groups(
    groups: Sequence[PipelineGroup],
    *,
    past_due: pd.DataFrame | Sequence[Mapping[str, Any]],
    stalled: pd.DataFrame | Sequence[Mapping[str, Any]],
    period: Period,
    config: RevbotConfig,
) -> PipelineSummary:
    """The same `PipelineSummary` as `pipeline_summary`, from the SQL fast path: the totals of
    `totals_from_groups`; `past_due` and `stalled` are the first rows of the lists, ranked and
    described (`past_due_records` / `stalled_records` over `top_past_due_rows_sql` /
    `top_stalled_rows_sql`); their totals come from the groups."""
    totals = totals_from_groups(groups, period=period, config=config)
    return PipelineSummary(
        **{name: getattr(totals, name) for name in _SUMMARY_NUMBERS},
        by_stage=_by_stage_frame(totals.by_stage, config),
        by_forecast_category=_by_category_frame(totals.by_forecast_category),
        past_due=_as_frame(past_due),
        stalled=_as_frame(stalled),
    )


_SUMMARY_NUMBERS = (
    "period", "currency", "total", "weighted", "count", "closing_in_period", "closing_in_period_count",
    "closing_in_period_weighted", "created_in_period", "created_in_period_count", "past_due_count",
    "past_due_amount", "stalled_count", "stalled_amount",
)  # fmt: skip


@dataclass(frozen=True)
class StageLookup:
    """What the configured stages say per case-folded stage name (the metrics match stages that way)."""

    probability: dict[str, float]
    category: dict[str, str]

    @classmethod
    def of(cls, config: RevbotConfig) -> StageLookup:
        return cls(
            {stage.name.casefold(): stage.probability for stage in config.stages},
            {stage.name.casefold(): stage.forecast_category for stage in config.stages},
        )


@dataclass(frozen=True)
class GroupValue:
    """A `PipelineGroup` in the reporting currency: amount and weighted amount in whole cents, and
    its forecast category, computed as the per-deal metrics do (`stage_probabilities`,
    `forecast_categories`), with numpy's rounding (`np.round(x, 2)` is rint(x × 100) / 100)."""

    group: PipelineGroup
    cents: int
    weighted_cents: int
    category: str

    @classmethod
    def of(cls, group: PipelineGroup, config: RevbotConfig, stages: StageLookup) -> GroupValue:
        amount_rc = round(group.amount * config.fx_rate(group.currency) * 100) / 100
        weighted_rc = round(amount_rc * group_probability(group.stage, stages) / 100 * 100) / 100
        return cls(group, round(amount_rc * 100), round(weighted_rc * 100), group_category(group, stages))

    @classmethod
    def all(cls, groups: Iterable[PipelineGroup], config: RevbotConfig) -> list[GroupValue]:
        stages = StageLookup.of(config)
        return [cls.of(group, config, stages) for group in groups]


def group_probability(stage: str | None, stages: StageLookup) -> float:
    """`stage_probabilities` for a group: the configured stage probability, else 0 (a group has no
    deal probability of its own)."""
    probability = None if stage is None else stages.probability.get(stage.casefold())
    return 0.0 if probability is None else min(max(float(probability), 0.0), 100.0)


def group_category(group: PipelineGroup, stages: StageLookup) -> str:
    """`forecast_categories` for a group: won is Closed, lost is Omitted, else the CRM's category,
    else the stage's configured one, else Pipeline."""
    if group.is_closed:
        return "Closed" if group.is_won else "Omitted"
    if group.forecast_category is not None:
        return group.forecast_category
    configured = None if group.stage is None else stages.category.get(group.stage.casefold())
    return configured or "Pipeline"


def groups_from_frame(frame: pd.DataFrame) -> list[PipelineGroup]:
    """Rows of a rollup-shaped frame as `PipelineGroup`s; absent flags are False."""
    if frame.empty:
        return []
    columns = {name: frame[name].tolist() if name in frame else [None] * len(frame) for name in PipelineGroup._fields}
    return [
        PipelineGroup(
            _text(columns["stage"][i]),
            _text(columns["forecast_category"][i]),
            _text(columns["currency"][i]),
            *(bool(columns[name][i]) for name in ("is_closed", "is_won", "closing", "created", "past_due", "stalled")),
            int(columns["count"][i] or 0),
            float(columns["amount"][i] or 0),
        )
        for i in range(len(frame))
    ]


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else str(value)


def _as_frame(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))


def _cents_total(cents: Iterable[int]) -> float:
    return from_cents(sum(cents))


def _by_stage_rows(values: Sequence[GroupValue], config: RevbotConfig) -> list[dict[str, Any]]:
    totals: dict[str | None, list[int]] = {}
    for value in values:
        total = totals.setdefault(value.group.stage, [0, 0, 0])
        total[0] += value.group.count
        total[1] += value.cents
        total[2] += value.weighted_cents
    order = sorted(totals, key=lambda stage: (config.stage_order(stage), stage is None, stage or ""))  # type: ignore[arg-type]
    return [
        {"stage": s, "count": totals[s][0], "amount": from_cents(totals[s][1]), "weighted": from_cents(totals[s][2])}
        for s in order
    ]


def _by_category_rows(values: Sequence[GroupValue]) -> list[dict[str, Any]]:
    totals: dict[str, list[int]] = {}
    for value in values:
        total = totals.setdefault(value.category, [0, 0])
        total[0] += value.group.count
        total[1] += value.cents
    order = [category for category in CATEGORY_ORDER if category in totals]
    return [{"forecast_category": c, "count": totals[c][0], "amount": from_cents(totals[c][1])} for c in order]


def _by_stage_frame(rows: list[dict[str, Any]], config: RevbotConfig) -> pd.DataFrame:
    if not rows:
        return pipeline_by_stage(pd.DataFrame(), config)
    return pd.DataFrame(
        {
            "stage": pd.Series([r["stage"] for r in rows]),
            "count": pd.Series([r["count"] for r in rows], dtype="int64"),
            "amount": pd.Series([r["amount"] for r in rows], dtype="float64"),
            "weighted": pd.Series([r["weighted"] for r in rows], dtype="float64"),
        }
    )


def _by_category_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    categories = [r["forecast_category"] for r in rows]
    return pd.DataFrame(
        {
            "forecast_category": pd.Series(categories) if rows else pd.Series([], dtype=object),
            "count": pd.Series([r["count"] for r in rows], dtype="int64"),
            "amount": pd.Series([r["amount"] for r in rows], dtype="float64"),
        }
    )


def _sum(values: pd.Series) -> float:
    return from_cents(to_cents(values).sum()) if len(values) else 0.0
