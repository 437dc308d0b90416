"""Volume and channel: reach into target accounts, and where pipeline and bookings come from.

Definitions (see docs/metrics.md):
- penetration of a segment = target accounts with an open deal or a won deal (won in `period`
  when one is given, ever otherwise) / target accounts in the segment (n/a for none);
- by source = open pipeline, pipeline created in the period and closed-won in the period, per
  lead source (a missing source is "Unknown").
"""

from __future__ import annotations

import pandas as pd

from metrics.frames import as_timestamp, prepare_deals
from metrics.periods import Period
from metrics.revenue import ratio
from storage.config import RevbotConfig

UNKNOWN = "Unknown"


def target_account_penetration(
    accounts: pd.DataFrame, deals: pd.DataFrame, *, config: RevbotConfig, period: Period | None = None
) -> pd.DataFrame:
    """Per segment: target_accounts, engaged, penetration (ratio or None)."""
    columns = ["segment", "target_accounts", "engaged", "penetration"]
    if accounts.empty or "is_target_account" not in accounts:
        return pd.DataFrame(columns=columns)
    targets = accounts[accounts["is_target_account"].fillna(False).astype(bool)].copy()
    if targets.empty:
        return pd.DataFrame(columns=columns)
    frame = prepare_deals(deals, config)
    won = frame["is_closed"] & frame["is_won"]
    if period is not None:
        won &= (frame["close_date"] >= as_timestamp(period.start)) & (frame["close_date"] <= as_timestamp(period.end))
    engaged_ids = set(frame.loc[~frame["is_closed"] | won, "account_id"].dropna().astype(int))
    targets["segment"] = targets["segment"].astype(object).where(targets["segment"].notna(), UNKNOWN)
    targets["engaged"] = targets["id"].astype(int).isin(engaged_ids)
    grouped = targets.groupby("segment").agg(target_accounts=("id", "size"), engaged=("engaged", "sum")).reset_index()
    grouped["target_accounts"] = grouped["target_accounts"].astype("int64")
    grouped["engaged"] = grouped["engaged"].astype("int64")
    grouped["penetration"] = pd.Series(
        [ratio(e, t) for e, t in zip(grouped["engaged"], grouped["target_accounts"], strict=True)],
        index=grouped.index,
        dtype=object,
    )
    return grouped[columns].sort_values("segment").reset_index(drop=True)


def by_source(deals: pd.DataFrame, *, period: Period, config: RevbotConfig) -> pd.DataFrame:
    """Per lead source: pipeline (open, count), created (in period, any status, count) and won
    (closed-won in period, count), reporting currency, biggest pipeline first."""
    columns = ["source", "pipeline", "pipeline_count", "created", "created_count", "won", "won_count"]
    frame = prepare_deals(deals, config)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["source"] = frame["source"].astype(object).where(frame["source"].notna(), UNKNOWN)
    in_period = (frame["close_date"] >= as_timestamp(period.start)) & (frame["close_date"] <= as_timestamp(period.end))
    created = (frame["created_at"] >= as_timestamp(period.start_datetime)) & (
        frame["created_at"] < as_timestamp(period.end_exclusive_datetime)
    )
    parts = {
        "pipeline": ~frame["is_closed"],
        "created": created,
        "won": frame["is_closed"] & frame["is_won"] & in_period,
    }
    result = pd.DataFrame(index=pd.Index(sorted(frame["source"].unique()), name="source"))
    for name, mask in parts.items():
        rows = frame[mask]
        result[name] = rows.groupby("source")["amount_rc"].sum().round(2)
        result[f"{name}_count"] = rows.groupby("source").size()
    result = result.fillna(0)
    for name in parts:
        result[f"{name}_count"] = result[f"{name}_count"].astype("int64")
    result = result.reset_index().sort_values(["pipeline", "source"], ascending=[False, True])
    return result[columns].reset_index(drop=True)


def by_source_from_totals(totals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`by_source` from `storage.funnel_queries.deal_totals_sql` rows (per source and currency:
    open/created/won counts and cents): the same columns, values and order."""
    columns = ["source", "pipeline", "pipeline_count", "created", "created_count", "won", "won_count"]
    if totals.empty:
        return pd.DataFrame(columns=columns)
    for code in set(totals["currency"]):
        config.fx_rate(code)  # a currency without a rate fails here as it does in `to_reporting`
    frame = totals.copy()
    frame["source"] = frame["source"].astype(object).where(frame["source"].notna(), UNKNOWN)
    sums = frame.groupby("source")[
        ["open_count", "open_cents", "created_count", "created_cents", "won_count", "won_cents"]
    ].sum()
    result = pd.DataFrame(index=sums.index)
    for name, bucket in (("pipeline", "open"), ("created", "created"), ("won", "won")):
        result[name] = (sums[f"{bucket}_cents"].astype("int64") / 100).round(2)
        result[f"{name}_count"] = sums[f"{bucket}_count"].astype("int64")
    result = result.reset_index().sort_values(["pipeline", "source"], ascending=[False, True])
    return result[columns].reset_index(drop=True)
