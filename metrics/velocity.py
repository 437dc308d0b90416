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

from dataclasses import dataclass
from datetime import date

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
    average = round(from_cents(won_cents) / len(won), 2) if len(won) else None
    rate = ratio(len(won), len(won) + len(lost))
    mean_cycle = float(cycle.mean()) if len(cycle) else None
    open_count = int((~frame["is_closed"]).sum())
    speed = None
    if rate is not None and average is not None and mean_cycle:
        speed = round(open_count * rate * average / mean_cycle, 2)
    return Velocity(
        period=period,
        currency=config.reporting_currency,
        won_count=len(won),
        lost_count=len(lost),
        won_amount=from_cents(won_cents),
        lost_amount=from_cents(lost_cents),
        win_rate_by_count=rate,
        win_rate_by_value=ratio(won_cents, won_cents + lost_cents),
        average_deal_size=average,
        cycle_median_days=float(cycle.median()) if len(cycle) else None,
        cycle_mean_days=mean_cycle,
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
