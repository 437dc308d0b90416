"""Velocity: how fast and how well deals move through the funnel.

Definitions (see docs/metrics.md):
- win rate = won / (won + lost) over deals closed in the period, by count and by value;
- average deal size = mean amount of deals won in the period;
- sales cycle = days from `created_at` to `close_date` of deals won in the period (median and mean);
- sales velocity = open deals × win rate (count) × average deal size / mean cycle days (per day);
- stage conversion = of the deals that ever reached a stage, the share that reached a later open or
  won stage (from `deal_history`);
- time in stage = days between entering a stage and leaving it (completed stays only), median.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp, ensure_datetime, prepare_deals
from metrics.money import from_cents, to_cents
from metrics.periods import Period
from metrics.revenue import ratio
from storage.config import RevbotConfig


@dataclass(frozen=True)
class Velocity:
    period: Period
    currency: str
    won_count: int
    lost_count: int
    won_amount: float
    lost_amount: float
    win_rate_by_count: float | None
    win_rate_by_value: float | None
    average_deal_size: float | None
    cycle_median_days: float | None
    cycle_mean_days: float | None
    open_count: int
    sales_velocity_per_day: float | None


def _closed_in(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    in_period = (frame["close_date"] >= as_timestamp(period.start)) & (frame["close_date"] <= as_timestamp(period.end))
    return frame[frame["is_closed"] & in_period]


def velocity(deals: pd.DataFrame, *, period: Period, config: RevbotConfig) -> Velocity:
    """Win rate, deal size, cycle length and sales velocity for deals closed in `period`;
    `open_count` counts every open deal in the frame."""
    frame = prepare_deals(deals, config)
    closed = _closed_in(frame, period)
    won = closed[closed["is_won"]]
    lost = closed[~closed["is_won"]]
    won_cents, lost_cents = int(to_cents(won["amount_rc"]).sum()), int(to_cents(lost["amount_rc"]).sum())
    cycle = (won["close_date"] - won["created_at"].dt.normalize()).dt.days.dropna().clip(lower=0)
    return _velocity(
        period,
        config,
        won=(len(won), won_cents),
        lost=(len(lost), lost_cents),
        open_count=int((~frame["is_closed"]).sum()),
        cycle_median=float(cycle.median()) if len(cycle) else None,
        cycle_mean=float(cycle.mean()) if len(cycle) else None,
    )


def _velocity(
    period: Period,
    config: RevbotConfig,
    *,
    won: tuple[int, int],
    lost: tuple[int, int],
    open_count: int,
    cycle_median: float | None,
    cycle_mean: float | None,
) -> Velocity:
    """The `Velocity` of (count, cents) won and lost, open deals and cycle days."""
    (won_count, won_cents), (lost_count, lost_cents) = won, lost
    average = round(from_cents(won_cents) / won_count, 2) if won_count else None
    rate = ratio(won_count, won_count + lost_count)
    speed = None
    if rate is not None and average is not None and cycle_mean:
        speed = round(open_count * rate * average / cycle_mean, 2)
    return Velocity(
        period=period,
        currency=config.reporting_currency,
        won_count=won_count,
        lost_count=lost_count,
        won_amount=from_cents(won_cents),
        lost_amount=from_cents(lost_cents),
        win_rate_by_count=rate,
        win_rate_by_value=ratio(won_cents, won_cents + lost_cents),
        average_deal_size=average,
        cycle_median_days=cycle_median,
        cycle_mean_days=cycle_mean,
        open_count=open_count,
        sales_velocity_per_day=speed,
    )


def _stage_changes(history: pd.DataFrame) -> pd.DataFrame:
    if history is None or history.empty:
        return pd.DataFrame({"deal_id": [], "old_value": [], "new_value": [], "changed_at": []})
    changes = history[history["field"] == "stage"].copy()
    ensure_datetime(changes, ["changed_at"])
    return changes.sort_values(["deal_id", "changed_at"], kind="stable")


def stage_conversion(history: pd.DataFrame, config: RevbotConfig, *, deals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per open stage in funnel order: reached (deals that were ever in it), advanced (of those,
    deals that later reached a later open or won stage), conversion = advanced / reached (None
    when no deal reached the stage). Stages come from history, plus each deal's current stage."""
    changes = _stage_changes(history)
    pairs = [changes[["deal_id", "old_value"]].rename(columns={"old_value": "stage"})]
    pairs.append(changes[["deal_id", "new_value"]].rename(columns={"new_value": "stage"}))
    if deals is not None and not deals.empty:
        pairs.append(deals[["id", "stage"]].rename(columns={"id": "deal_id"}))
    reached = pd.concat(pairs, ignore_index=True).dropna().drop_duplicates()
    status = {s.name: s.status for s in config.stages}
    order = {s.name: i for i, s in enumerate(config.stages)}
    reached = reached[reached["stage"].isin(order)]
    reached = reached.assign(order=reached["stage"].map(order), status=reached["stage"].map(status))
    rows = []
    for stage in config.stages:
        if stage.status != "open":
            continue
        here = set(reached.loc[reached["stage"] == stage.name, "deal_id"])
        later = reached[(reached["order"] > order[stage.name]) & (reached["status"] != "lost")]
        advanced = len(here & set(later["deal_id"]))
        rows.append({"stage": stage.name, "reached": len(here), "advanced": advanced})
    frame = pd.DataFrame(rows, columns=["stage", "reached", "advanced"])
    conversions = [ratio(a, r) for a, r in zip(frame["advanced"], frame["reached"], strict=True)]
    frame["conversion"] = pd.Series(conversions, index=frame.index, dtype=object)  # None stays "n/a"
    return frame


def time_in_stage(history: pd.DataFrame, *, deals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Completed stays: deal_id, stage, days. A stay starts at the change into the stage (or at the
    deal's `created_at` for its first stage when `deals` is given) and ends at the next change."""
    changes = _stage_changes(history)
    if changes.empty:
        return pd.DataFrame({"deal_id": [], "stage": [], "days": []})
    previous = changes.groupby("deal_id")["changed_at"].shift(1)
    if deals is not None and not deals.empty:
        created = ensure_datetime(deals[["id", "created_at"]].copy(), ["created_at"]).set_index("id")["created_at"]
        first = previous.isna()
        previous = previous.where(~first, changes["deal_id"].map(created))
    stays = pd.DataFrame(
        {
            "deal_id": changes["deal_id"],
            "stage": changes["old_value"],
            "days": (changes["changed_at"] - previous).dt.total_seconds() / 86400,
        }
    ).dropna()
    return stays[stays["days"] >= 0].reset_index(drop=True)


def median_days_in_stage(history: pd.DataFrame, *, deals: pd.DataFrame | None = None) -> dict[str, float]:
    """Median days of completed stays per stage: feed to `metrics.pipeline.stalled_deals`."""
    stays = time_in_stage(history, deals=deals)
    if stays.empty:
        return {}
    return {str(k): round(float(v), 1) for k, v in stays.groupby("stage")["days"].median().items()}


def days_open(deals: pd.DataFrame, *, today: date) -> pd.Series:
    """Age in days of each deal (created → today), for deal cards."""
    frame = ensure_datetime(deals.copy(), ["created_at"])
    return (as_timestamp(today) - frame["created_at"].dt.normalize()).dt.days


# --- from database aggregates (storage.funnel_queries) -----------------------------------------
# The same numbers as `velocity`, `stage_conversion` and `time_in_stage` above, computed from small
# aggregates instead of every deal and stage change, so a big scope's funnel needs no DataFrame of
# its whole history. Tests check both paths agree.


def check_currencies(currencies: Iterable[str | None], config: RevbotConfig) -> None:
    """Raise `ConfigError` for a currency without a rate, as `metrics.money.to_reporting` does."""
    for code in set(currencies):
        config.fx_rate(code)


TotalRows = Sequence[Mapping[str, Any]]


def _total_rows(totals: pd.DataFrame | TotalRows) -> TotalRows:
    return totals.to_dict("records") if isinstance(totals, pd.DataFrame) else totals


def velocity_from_totals(
    totals: pd.DataFrame | TotalRows, cycles: Iterable[tuple[int, int]], *, period: Period, config: RevbotConfig
) -> Velocity:
    """`velocity` from `storage.funnel_queries.deal_totals_rows` (or the `deal_totals_sql` frame)
    and `won_cycles_sql`'s (days, deals) histogram."""
    rows = _total_rows(totals)
    check_currencies((row["currency"] for row in rows), config)
    won_count, lost_count = sum(int(r["won_count"]) for r in rows), sum(int(r["lost_count"]) for r in rows)
    won_cents, lost_cents = sum(int(r["won_cents"]) for r in rows), sum(int(r["lost_cents"]) for r in rows)
    histogram: dict[int, int] = {}
    for days, deals in cycles:
        histogram[max(days, 0)] = histogram.get(max(days, 0), 0) + deals
    count = sum(histogram.values())
    return _velocity(
        period,
        config,
        won=(won_count, won_cents),
        lost=(lost_count, lost_cents),
        open_count=sum(int(r["open_count"]) for r in rows),
        cycle_median=_histogram_median(histogram) if count else None,
        cycle_mean=sum(d * n for d, n in histogram.items()) / count if count else None,
    )


def source_rows_from_totals(totals: pd.DataFrame | TotalRows, config: RevbotConfig) -> list[dict[str, Any]]:
    """`commands.pipeline.deal_rows(metrics.volume.by_source_from_totals(...))` in plain Python: per
    lead source (None is "Unknown"), pipeline / created / won in the reporting currency (cents
    summed over currencies, then / 100) and their counts, biggest open pipeline first, then by name.
    A rep's funnel has a handful of rows, where a DataFrame's groupby costs more than the query."""
    rows = _total_rows(totals)
    check_currencies((row["currency"] for row in rows), config)
    sums: dict[str, list[int]] = {}
    for row in rows:
        source = UNKNOWN_SOURCE if row["source"] is None else row["source"]
        into = sums.setdefault(source, [0] * 6)
        for index, name in enumerate(_SOURCE_SUMS):
            into[index] += int(row[name])
    result = [
        {
            "source": source,
            "pipeline": round(open_cents / 100, 2),
            "pipeline_count": open_count,
            "created": round(created_cents / 100, 2),
            "created_count": created_count,
            "won": round(won_cents / 100, 2),
            "won_count": won_count,
        }
        for source, (open_count, open_cents, created_count, created_cents, won_count, won_cents) in sums.items()
    ]
    return sorted(result, key=lambda row: (-row["pipeline"], row["source"]))


UNKNOWN_SOURCE = "Unknown"  # as `metrics.volume.UNKNOWN`
_SOURCE_SUMS = ("open_count", "open_cents", "created_count", "created_cents", "won_count", "won_cents")


def _histogram_median(histogram: dict[int, int]) -> float:
    """The median of the values a {value: count} histogram holds (mean of the two middle ones)."""
    count = sum(histogram.values())
    wanted = [(count - 1) // 2, count // 2]  # 0-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while len(found) < 2 and wanted[len(found)] < seen:
            found.append(value)
    return (found[0] + found[1]) / 2


def stage_conversion_rows(reach: Iterable[tuple[int, int]], config: RevbotConfig) -> list[dict[str, Any]]:
    """`stage_conversion_from_reach` as plain rows (stage, reached, advanced, conversion: a float,
    None for no deal), what `commands.pipeline.deal_rows` makes of that frame."""
    stages = list(config.stages)
    counts: dict[int, int] = {}
    for mask, deals in reach:
        counts[mask] = counts.get(mask, 0) + deals
    rows: list[dict[str, Any]] = []
    for position, stage in enumerate(stages):
        if stage.status != "open":
            continue
        # A deal advanced when it also reached a later stage that is not a lost one.
        later = sum(1 << i for i, s in enumerate(stages) if i > position and s.status != "lost")
        here = {mask: n for mask, n in counts.items() if mask >> position & 1}
        reached = sum(here.values())
        advanced = sum(n for mask, n in here.items() if mask & later)
        rows.append(
            {"stage": stage.name, "reached": reached, "advanced": advanced, "conversion": ratio(advanced, reached)}
        )
    return rows


def stage_conversion_from_reach(reach: Iterable[tuple[int, int]], config: RevbotConfig) -> pd.DataFrame:
    """`stage_conversion` from (mask, deals) pairs: bit i of a mask says a deal was ever in
    `config.stages[i]` (`storage.funnel_queries.stage_reach_sql`)."""
    rows = stage_conversion_rows(reach, config)
    frame = pd.DataFrame(
        [{k: row[k] for k in ("stage", "reached", "advanced")} for row in rows],
        columns=["stage", "reached", "advanced"],
    ).astype({"reached": "int64", "advanced": "int64"})
    conversions = [row["conversion"] for row in rows]
    frame["conversion"] = pd.Series(conversions, index=frame.index, dtype=object)  # None stays "n/a"
    return frame


def median_days_from_stays(stays: pd.DataFrame) -> dict[str, float]:
    """Median days per stage from completed stays given as (stage, millis): the values
    `time_in_stage(...).groupby("stage")["days"].median()` gives, computed the same way
    (timedelta → total seconds / 86400) so a median on a display boundary rounds alike."""
    if stays.empty:
        return {}
    days = np.asarray(pd.to_timedelta(stays["millis"].to_numpy(dtype="int64"), unit="ms").total_seconds() / 86400)
    column = stays["stage"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, names = column.cat.codes.to_numpy(), list(column.cat.categories)
    else:
        found, uniques = pd.factorize(column)
        codes, names = found.astype("int16" if len(uniques) < 2**15 else "int64"), list(uniques)
    # One stable sort by stage (a radix sort for codes of 16 bits or less), then a median per slice:
    # the values a groupby median gives (the middle one, or the mean of the two), without its fixed
    # cost, and faster on an org's millions of stays too.
    order = np.argsort(codes, kind="stable")
    codes, days = codes[order], days[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    return {
        str(names[codes[start]]): float(np.median(days[start:end]))
        for start, end in zip(starts, ends, strict=True)
        if codes[start] >= 0  # a missing stage: a groupby leaves it out
    }


def funnel_from_changes(
    changes: pd.DataFrame | Mapping[str, np.ndarray],
    pipeline: pd.DataFrame | Mapping[str, np.ndarray],
    config: RevbotConfig,
) -> tuple[list[tuple[int, int]], pd.DataFrame]:
    """Stage reach and completed stays from narrow numeric rows (`storage.funnel_queries`):
    `changes` (deal_id, id, old, new, at: stage positions in `config.stages`, len(stages) for any
    other value, `at` in epoch millis) and the pipeline deals (id, stage, created: millis or NaN),
    as frames or columns (`storage.funnel_queries.stage_change_columns`, `pipeline_stage_columns`).

    Returns (mask, deals) pairs for `stage_conversion_from_reach` and (stage, millis) stays in open
    stages for `median_days_from_stays`: what `stage_conversion` and `time_in_stage` compute from
    the history and deal frames, in arrays (an org's history is millions of rows)."""
    names = [s.name for s in config.stages]
    n = len(names)
    if n > 62:
        raise ValueError("funnel_from_changes: at most 62 stages fit a 64-bit mask")
    # Each column read once (a pandas column access costs more than the arrays' work for a rep).
    deal, change_id, old, new = (np.asarray(changes[c], dtype="int64") for c in ("deal_id", "id", "old", "new"))
    at = np.asarray(changes["at"], dtype="float64")
    if not _in_order(deal, at, change_id):  # an org's changes come in order (storage.funnel_queries)
        order = np.lexsort((change_id, at, deal))
        deal, old, new, at = deal[order], old[order], new[order], at[order]

    pipe_ids = np.asarray(pipeline["id"], dtype="int64")
    by_id = np.argsort(pipe_ids, kind="stable")
    pipe_ids = pipe_ids[by_id]
    pipe_bits = _stage_bits(np.asarray(pipeline["stage"], dtype="int64")[by_id], n)
    pipe_created = np.asarray(pipeline["created"], dtype="float64")[by_id]

    first = np.ones(len(deal), dtype=bool)
    first[1:] = deal[1:] != deal[:-1]
    starts = np.flatnonzero(first)
    changed_ids = deal[starts]
    changed_slot, changed_known = _lookup(pipe_ids, changed_ids)
    # A stay starts at the previous change of the deal; its first one at the deal's creation, known
    # only for pipeline deals (as `time_in_stage` does with `deals=`).
    previous = np.empty(len(at), dtype="float64")
    previous[1:] = at[:-1]
    previous[starts] = np.where(changed_known, pipe_created[changed_slot], np.nan)
    millis = at - previous
    is_open = np.array([s.status == "open" for s in config.stages] + [False])
    with np.errstate(invalid="ignore"):
        keep = is_open[old] & ~np.isnan(millis) & (millis >= 0)
    # Categorical: an org has millions of stays, and a string per stay costs more than the medians.
    stages = pd.Categorical.from_codes(old[keep], categories=names)
    stays = pd.DataFrame({"stage": stages, "millis": millis[keep].astype("int64")})

    row_bits = _stage_bits(old, n) | _stage_bits(new, n)
    masks = np.bitwise_or.reduceat(row_bits, starts) if len(starts) else np.zeros(0, dtype="int64")
    masks[changed_known] |= pipe_bits[changed_slot[changed_known]]
    unchanged = pipe_bits[~_lookup(changed_ids, pipe_ids)[1]]  # changed_ids is sorted: deals in order
    every = np.concatenate([masks, unchanged])
    if n <= 16:  # few possible masks: counting beats sorting a million of them
        counts = np.bincount(every, minlength=1)
        reach = [(int(m), int(c)) for m, c in enumerate(counts) if m and c]
    else:
        values, counted = np.unique(every, return_counts=True)
        reach = [(int(m), int(c)) for m, c in zip(values, counted, strict=True) if m]
    return reach, stays


def _in_order(deal: np.ndarray, at: np.ndarray, change_id: np.ndarray) -> bool:
    """Whether the rows are sorted by (deal, at, change id) already (a NaN time says no)."""
    if len(deal) < 2:
        return True
    step_deal, step_at, step_id = np.diff(deal), np.diff(at), np.diff(change_id)
    later = (step_deal > 0) | ((step_deal == 0) & ((step_at > 0) | ((step_at == 0) & (step_id > 0))))
    return bool(later.all())


def _stage_bits(codes: np.ndarray, n: int) -> np.ndarray:
    """1 << code for a configured stage, 0 for anything else (codes are 0..n; above n is "anything else" too)."""
    bits = np.array([1 << i for i in range(n)] + [0], dtype="int64")
    return bits[np.minimum(codes, n)]


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slot, found): where each of `ids` sits in `sorted_ids`, and whether it is there."""
    slot = np.searchsorted(sorted_ids, ids)
    slot = np.minimum(slot, max(len(sorted_ids) - 1, 0))
    found = (sorted_ids[slot] == ids) if len(sorted_ids) else np.zeros(len(ids), dtype=bool)
    return slot, found
