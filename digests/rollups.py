"""The weekly digest's numbers from the per-owner SQL groups of `storage.digest_queries`: pure
functions, no I/O.

Each function reproduces a row-by-row metric (`metrics.pipeline`, `metrics.revenue`, the weekly
movement) from groups summed in whole cents, so a digest for any owner set is a few sums over a
few thousand group rows instead of a pass over every deal. `owners` picks an owner set's rows:
the org-wide groups are read once and every team digest sums its own members'.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from metrics.money import from_cents
from metrics.periods import Period
from metrics.pipeline import BY_CATEGORY_COLUMNS, BY_STAGE_COLUMNS, CATEGORY_ORDER, forecast_categories
from metrics.revenue import Forecast
from storage.config import RevbotConfig


def owners(frame: pd.DataFrame, owner_ids: set[int] | None) -> pd.DataFrame:
    """The rows of `owner_ids` (None: every row, deals without an owner included)."""
    if owner_ids is None:
        return frame
    # Plain float arrays (NaN for no owner): far cheaper than isin on a nullable Int64 column.
    column = frame["owner_id"].to_numpy(dtype="float64", na_value=np.nan)
    return frame[np.isin(column, np.fromiter(owner_ids, dtype="float64", count=len(owner_ids)))]


def cents_total(frame: pd.DataFrame, column: str = "cents") -> float:
    return from_cents(int(frame[column].sum())) if len(frame) else 0.0


class Sums:
    """A group frame's columns as arrays, for the dozens of masked sums a digest takes (a pandas
    filter per sum costs more than the sum itself)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = {name: frame[name].to_numpy() for name in frame.columns if name != "owner_id"}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def count(self, mask: np.ndarray) -> int:
        return int(self.columns["count"][mask].sum())

    def money(self, mask: np.ndarray, column: str = "cents") -> float:
        return from_cents(int(self.columns[column][mask].sum()))


def forecast(groups: Sums, period: Period, config: RevbotConfig) -> Forecast:
    """`metrics.revenue.forecast` from `with_categories` groups: the same cumulative Closed, Commit,
    Best Case, Pipeline over deals closing in the period, summed in cents."""
    closing, is_closed, category = groups["closing"], groups["is_closed"], groups["category"]

    def cents(name: str, *, closed: bool) -> int:
        return int(groups["cents"][closing & (category == name) & (is_closed == closed)].sum())

    closed = cents("Closed", closed=True)
    # As metrics.revenue: an open deal marked "Closed" in the CRM is not won yet, it counts with Commit.
    commit = closed + cents("Commit", closed=False) + cents("Closed", closed=False)
    best_case = commit + cents("Best Case", closed=False)
    pipeline = best_case + cents("Pipeline", closed=False)
    return Forecast(period=period, currency=config.reporting_currency, closed=from_cents(closed),
                    commit=from_cents(commit), best_case=from_cents(best_case), pipeline=from_cents(pipeline))


def check_currencies(rollup: pd.DataFrame, config: RevbotConfig) -> None:
    """Raise `ConfigError` naming a currency without an fx rate, as the row-by-row metrics do (the
    SQL counts an unknown currency 1:1)."""
    for code in pd.unique(rollup["currency"].dropna()):
        config.fx_rate(str(code))


def in_reporting_currency(groups: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """Groups with `amount` in the reporting currency (from cents) and that currency as theirs: the
    shape `metrics.revenue.attainment_from_rollup` and `forecast_from_aggregate` read, already
    converted per deal."""
    return groups.assign(amount=groups["cents"] / 100, currency=config.reporting_currency)


def by_stage(open_groups: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`metrics.pipeline.pipeline_by_stage` from open groups: stage, count, amount, weighted."""
    if open_groups.empty:
        return pd.DataFrame({"stage": [], "count": [], "amount": [], "weighted": []}).astype(
            {"count": "int64", "amount": "float64", "weighted": "float64"})
    grouped = open_groups.groupby("stage", dropna=False).agg(
        count=("count", "sum"), cents=("cents", "sum"), weighted_cents=("weighted_cents", "sum")).reset_index()
    grouped["amount"] = grouped["cents"] / 100
    grouped["weighted"] = grouped["weighted_cents"] / 100
    grouped = grouped.assign(_order=grouped["stage"].map(config.stage_order))
    grouped = grouped.sort_values(["_order", "stage"]).reset_index(drop=True)
    grouped["count"] = grouped["count"].astype("int64")
    return grouped[BY_STAGE_COLUMNS]


def with_categories(rollup: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`deal_rollup` groups with `category`, `metrics.pipeline.forecast_categories` of each group
    (worked out once for the org, not per digest)."""
    return rollup.assign(category=forecast_categories(rollup, config) if len(rollup) else pd.Series(dtype=object))


def by_forecast_category(open_groups: pd.DataFrame) -> pd.DataFrame:
    """`metrics.pipeline.pipeline_by_forecast_category` from open `with_categories` groups:
    forecast_category, count, amount."""
    grouped = open_groups.rename(columns={"forecast_category": "crm_category", "category": "forecast_category"}
                                 ).groupby("forecast_category").agg(count=("count", "sum"), cents=("cents", "sum"))
    grouped = grouped.reindex([c for c in CATEGORY_ORDER if c in grouped.index]).reset_index()
    grouped["count"] = grouped["count"].astype("int64")
    grouped["amount"] = grouped["cents"].astype("float64") / 100
    return grouped[BY_CATEGORY_COLUMNS]


def with_days_in_stage(ages: pd.DataFrame, *, today: date) -> pd.DataFrame:
    """`open_stage_ages` groups with `days` (whole days in the stage today; NaN when unknown),
    computed once for the org rather than once per digest."""
    return ages.assign(days=(pd.Timestamp(today) - ages["entered_day"]).dt.days.astype("float64"))


def stage_medians(ages: pd.DataFrame) -> dict[str, float]:
    """`metrics.pipeline.stage_age_medians` from `with_days_in_stage` groups: per stage, the median
    days in stage over the deals (each group's days repeated by its count)."""
    known = ages["days"].notna().to_numpy() & ages["stage"].notna().to_numpy()
    stages = ages["stage"].to_numpy(dtype=object)[known]
    days, counts = ages["days"].to_numpy()[known], ages["count"].to_numpy()[known]
    return {str(stage): float(np.median(np.repeat(days[stages == stage], counts[stages == stage])))
            for stage in sorted(set(stages))}


def stalled_groups(ages: pd.DataFrame, medians: Mapping[str, float], *, config: RevbotConfig) -> pd.DataFrame:
    """The `with_days_in_stage` groups whose deals `metrics.pipeline.stalled_deals` calls stalled
    with these medians: idle, or longer in the stage than `stalled_stage_multiple` × its median."""
    median = np.array([medians.get(str(s), np.nan) for s in ages["stage"].to_numpy(dtype=object)], dtype="float64")
    with np.errstate(invalid="ignore"):
        slow = (median > 0) & (ages["days"].to_numpy() > config.pipeline.stalled_stage_multiple * median)
    return ages[ages["idle"].to_numpy() | slow]


def nth_largest(values: pd.Series, n: int) -> int | None:
    """The n-th largest value, or None when there are fewer than n. The n-th largest group
    maximum bounds the n biggest deals from below: each group maximum is a distinct deal."""
    if len(values) < n:
        return None
    return int(values.nlargest(n).iloc[-1])


def floor_for_lists(rollup: pd.DataFrame, stalled: pd.DataFrame, *, top: int, risks: int) -> int | None:
    """The smallest amount (cents) a deal can have and still be in a digest's `top` biggest deals
    closing this quarter or its `risks` biggest stalled deals; None when every open deal may be."""
    closing = rollup[~rollup["is_closed"] & rollup["closing"]]
    floors = [nth_largest(closing["max_cents"], top), nth_largest(stalled["max_cents"], risks)]
    return None if None in floors else min(f for f in floors if f is not None)


def slipped(changes: pd.DataFrame) -> pd.DataFrame:
    """The deals (deal_id, cents) whose close date moved later, once each."""
    if changes.empty:
        return changes[["deal_id", "cents"]]
    later = pd.to_datetime(changes["new_value"], errors="coerce") > pd.to_datetime(changes["old_value"],
                                                                                     errors="coerce")
    return changes[later].drop_duplicates("deal_id")[["deal_id", "cents"]]


def cumulative_by_week(won: pd.DataFrame, ends: list[date]) -> list[float]:
    """Closed-won (from `won_by_day` groups) up to each week's end."""
    return [cents_total(won[won["close_date"] <= pd.Timestamp(end)]) for end in ends]
