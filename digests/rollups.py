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

from metrics.frames import as_timestamp, days_between
from metrics.money import from_cents
from metrics.periods import Period
from metrics.pipeline import CATEGORY_ORDER, forecast_categories
from metrics.revenue import Attainment, Forecast, ratio, run_rate_projection
from storage.config import RevbotConfig


def owners(frame: pd.DataFrame, owner_ids: set[int] | None) -> pd.DataFrame:
    """The rows of `owner_ids` (None: every row, deals without an owner included)."""
    if owner_ids is None:
        return frame
    # `owner_floats` columns: np.isin on plain floats is far cheaper than isin on nullable Int64.
    column = frame["owner_id"].to_numpy()
    return frame[np.isin(column, np.fromiter(owner_ids, dtype="float64", count=len(owner_ids)))]


class OwnerRows:
    """Where each owner's rows are in one `owner_floats` frame, found once: cutting an owner set's
    rows is then a few lookups and one take instead of a scan of the whole frame per set (a
    1,000-rep org has 127 teams, and its group frames tens of thousands of rows)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        owner = frame["owner_id"].to_numpy(dtype="float64", na_value=np.nan)
        order = np.argsort(owner, kind="stable")  # NaN (no owner) last; each owner's rows in frame order
        known = int((~np.isnan(owner)).sum())
        keys, starts = np.unique(owner[order[:known]], return_index=True)
        ends = np.append(starts[1:], known)[:len(starts)]  # none when no row has an owner
        self.positions = {float(key): order[start:end] for key, start, end in zip(keys, starts, ends, strict=True)}

    def of(self, owner_ids: set[int]) -> np.ndarray:
        """The positions of `owner_ids`' rows, in frame order (as `owners` keeps them)."""
        parts = [self.positions[key] for key in map(float, owner_ids) if key in self.positions]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.intp)

    def cut(self, frame: pd.DataFrame, owner_ids: set[int] | None) -> pd.DataFrame:
        """`owners(frame, owner_ids)` for the frame this index was built from."""
        return frame if owner_ids is None else frame.iloc[self.of(owner_ids)]


def plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its text columns as plain object arrays (missing stays NaN): a team's cut takes
    rows from each column, and taking from an Arrow-backed `str` column costs a pyarrow call per
    column per team, most of a 127-team run's cutting."""
    text = [name for name, dtype in frame.dtypes.items() if isinstance(dtype, pd.StringDtype)]
    return frame.astype(dict.fromkeys(text, object)) if text else frame


def owner_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with owner_id as float64 (NaN: no owner), as `owners` reads it."""
    return frame.assign(owner_id=frame["owner_id"].to_numpy(dtype="float64", na_value=np.nan))


def cents_total(frame: pd.DataFrame, column: str = "cents") -> float:
    return from_cents(int(frame[column].sum())) if len(frame) else 0.0


class Sums:
    """A group frame's columns as arrays, for the dozens of masked sums a digest takes (a pandas
    filter per sum costs more than the sum itself)."""

    COLUMNS = ("count", "cents", "weighted_cents", "cycle_days", "cycle_deals", "is_closed", "is_won", "closing",
               "created_q", "created_w", "closed_w", "past_due", "stage", "category")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = {name: frame[name].to_numpy() for name in self.COLUMNS}

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


def attainment(groups: Sums, *, period: Period, target: float | None, config: RevbotConfig, today: date
               ) -> Attainment:
    """`metrics.revenue.attainment` from groups: closed-won and open pipeline closing in the period."""
    closing = groups["closing"]
    won = closing & groups["is_closed"] & groups["is_won"]
    won_total = groups.money(won)
    open_total = groups.money(closing & ~groups["is_closed"])
    gap = None if target is None else round(max(target - won_total, 0.0), 2)
    return Attainment(period=period, currency=config.reporting_currency, closed_won=won_total,
                      closed_won_count=groups.count(won), target=target, attainment=ratio(won_total, target), gap=gap,
                      run_rate_projection=run_rate_projection(won_total, period, today), open_in_period=open_total,
                      coverage=ratio(open_total, gap))


def check_currencies(rollup: pd.DataFrame, config: RevbotConfig) -> None:
    """Raise `ConfigError` naming a currency without an fx rate, as the row-by-row metrics do (the
    SQL counts an unknown currency 1:1)."""
    for code in pd.unique(rollup["currency"].dropna()):
        config.fx_rate(str(code))


def by_stage(groups: Sums, is_open: np.ndarray, config: RevbotConfig) -> pd.DataFrame:
    """`metrics.pipeline.pipeline_by_stage` from open groups: stage, count, amount, weighted, in
    funnel order (unknown stages by name, a missing stage last)."""
    rows = sorted(((stage, groups.count(mask), groups.money(mask), groups.money(mask, "weighted_cents"))
                   for stage, mask in _masks(groups["stage"], is_open)),
                  key=lambda row: (config.stage_order(row[0]), row[0] is None, row[0] or ""))
    return pd.DataFrame({
        "stage": pd.Series([row[0] for row in rows], dtype=object),
        "count": np.array([row[1] for row in rows], dtype="int64"),
        "amount": np.array([row[2] for row in rows], dtype="float64"),
        "weighted": np.array([row[3] for row in rows], dtype="float64"),
    })


def _masks(keys: np.ndarray, among: np.ndarray) -> list[tuple[object, np.ndarray]]:
    """(key, mask) for each distinct key among the rows of `among` (a missing key is one key)."""
    missing = pd.isna(keys)
    present = sorted(set(keys[among & ~missing]))
    result: list[tuple[object, np.ndarray]] = [(key, among & (keys == key)) for key in present]
    if (among & missing).any():
        result.append((None, among & missing))
    return result


def with_categories(rollup: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`deal_rollup` groups with `category`, `metrics.pipeline.forecast_categories` of each group
    (worked out once for the org, not per digest)."""
    return rollup.assign(category=forecast_categories(rollup, config) if len(rollup) else pd.Series(dtype=object))


def by_forecast_category(groups: Sums, is_open: np.ndarray) -> pd.DataFrame:
    """`metrics.pipeline.pipeline_by_forecast_category` from open `with_categories` groups:
    forecast_category, count, amount, in CATEGORY_ORDER."""
    category = groups["category"]
    masks = [(name, is_open & (category == name)) for name in CATEGORY_ORDER]
    masks = [(name, mask) for name, mask in masks if mask.any()]
    return pd.DataFrame({
        "forecast_category": pd.Series([name for name, _ in masks], dtype=object),
        "count": np.array([groups.count(mask) for _, mask in masks], dtype="int64"),
        "amount": np.array([groups.money(mask) for _, mask in masks], dtype="float64"),
    })


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
    return ages[stalled_mask(ages, medians, config=config)]


def stalled_mask(ages: pd.DataFrame, medians: Mapping[str, float], *, config: RevbotConfig) -> np.ndarray:
    """Which rows `stalled_groups` keeps, as a mask (a floor needs only their maxima)."""
    stages = ages["stage"].to_numpy(dtype=object)
    median = np.array([medians.get(stage, np.nan) if isinstance(stage, str) else np.nan for stage in stages],
                      dtype="float64")
    with np.errstate(invalid="ignore"):
        slow = (median > 0) & (ages["days"].to_numpy() > config.pipeline.stalled_stage_multiple * median)
    return ages["idle"].to_numpy(dtype=bool) | slow


def with_stall_days(pool: pd.DataFrame, *, today: date) -> pd.DataFrame:
    """Prepared open deals with `days_since_activity` (since creation if never touched) and
    `days_in_stage`, as `metrics.pipeline.stalled_deals` counts them: the same for every digest,
    so worked out once."""
    now = as_timestamp(today)
    return pool.assign(days_since_activity=days_between(now, pool["last_activity_at"].fillna(pool["created_at"])),
                       days_in_stage=days_between(now, pool["stage_entered_at"]))


def biggest_stalled(pool: pd.DataFrame, medians: Mapping[str, float], *, config: RevbotConfig, limit: int
                    ) -> pd.DataFrame:
    """The `limit` biggest rows of `metrics.pipeline.stalled_deals(pool, stage_medians=medians)`,
    with the same `stage_median_days` and `reason`, for `with_stall_days` rows: the stall test and
    the reason's wording follow that function, without its per-call set-up (a digest lists five)."""
    rules = config.pipeline
    median = np.array([medians.get(str(s), np.nan) for s in pool["stage"].to_numpy(dtype=object)], dtype="float64")
    idle = pool["days_since_activity"].to_numpy() >= rules.stalled_after_days
    with np.errstate(invalid="ignore"):
        slow = (median > 0) & (pool["days_in_stage"].to_numpy() > rules.stalled_stage_multiple * median)
    stalled = np.flatnonzero(idle | slow)
    # Biggest first, ties by id, as stalled_deals sorts; then only `limit` rows are touched.
    amounts, ids = pool["amount_rc"].to_numpy()[stalled], pool["id"].to_numpy(dtype="float64")[stalled]
    chosen = stalled[np.lexsort((ids, -amounts))[:limit]]
    stages = pool["stage"].to_numpy(dtype=object)[chosen]
    idle_days, stage_days = pool["days_since_activity"].to_numpy()[chosen], pool["days_in_stage"].to_numpy()[chosen]
    reasons = []
    for i in range(len(chosen)):
        parts = [f"no activity for {int(idle_days[i])} days"] if idle[chosen[i]] else []
        if slow[chosen[i]]:
            parts.append(f"in {stages[i]} for {int(stage_days[i])} days (median {median[chosen[i]]:g})")
        reasons.append("; ".join(parts))
    return pool.iloc[chosen].assign(stage_median_days=median[chosen], reason=reasons).reset_index(drop=True)


def nth_largest(values: np.ndarray, n: int) -> int | None:
    """The n-th largest value, or None when there are fewer than n. The n-th largest group
    maximum bounds the n biggest deals from below: each group maximum is a distinct deal."""
    if len(values) < n:
        return None
    # np.partition rather than Series.nlargest: the same value without pandas' per-call set-up (a
    # run takes two per team).
    return int(np.partition(values, len(values) - n)[len(values) - n])


def floor_for_lists(rollup: pd.DataFrame, stalled_max_cents: np.ndarray, *, top: int, risks: int) -> int | None:
    """The smallest amount (cents) a deal can have and still be in a digest's `top` biggest deals
    closing this quarter or its `risks` biggest stalled deals (`stalled_max_cents`: the maxima of
    the stalled groups); None when every open deal may be."""
    closing = ~rollup["is_closed"].to_numpy(dtype=bool) & rollup["closing"].to_numpy(dtype=bool)
    floors = [nth_largest(rollup["max_cents"].to_numpy(dtype="int64")[closing], top),
              nth_largest(np.asarray(stalled_max_cents, dtype="int64"), risks)]
    return None if None in floors else min(f for f in floors if f is not None)


def with_later(changes: pd.DataFrame) -> pd.DataFrame:
    """`close_date_changes` with `later`: the new close date is after the old one (unparsable
    dates never count), worked out once for the org."""
    later = pd.to_datetime(changes["new_value"], errors="coerce") > pd.to_datetime(changes["old_value"],
                                                                                     errors="coerce")
    return changes.assign(later=later.to_numpy(dtype=bool))


def slipped(changes: pd.DataFrame) -> tuple[int, float]:
    """How many deals' close date moved later, and their amount (each deal once)."""
    later = changes["later"].to_numpy(dtype=bool)
    ids, first = np.unique(changes["deal_id"].to_numpy()[later], return_index=True)
    return len(ids), from_cents(int(changes["cents"].to_numpy()[later][first].sum()))


def cumulative_by_week(won: pd.DataFrame, ends: list[date]) -> list[float]:
    """Closed-won (from `won_by_day` groups) up to each week's end."""
    days, cents = won["close_date"].to_numpy(), won["cents"].to_numpy()
    return [from_cents(int(cents[days <= np.datetime64(end)].sum())) for end in ends]
