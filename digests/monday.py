"""The Monday leadership digest: the weekly numbers for everyone plus a retention summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.orm import Session

from digests import data
from digests.weekly import WeeklyDigest, WeeklyInputs, compute_weekly, load_weekly
from metrics.money import to_reporting
from storage.config import RevbotConfig
from storage.scope import Scope


@dataclass(frozen=True)
class RetentionSummary:
    arr: float
    arr_change: float
    nrr: float | None
    grr: float | None
    churned_logos: int
    renewals_at_risk: int
    window_days: int


@dataclass(frozen=True)
class MondayDigest:
    weekly: WeeklyDigest
    retention: RetentionSummary | None


def mrr_by_account(subscriptions: pd.DataFrame, day: date) -> pd.Series:
    """MRR per account on `day` (reporting currency), per the subscription-row semantics in
    storage.models: start_date <= day and (active or day < end_date)."""
    if subscriptions.empty:
        return pd.Series(dtype=float)
    stamp = pd.Timestamp(day)
    live = subscriptions[(subscriptions["start_date"] <= stamp)
                         & ((subscriptions["status"] == "active") | (subscriptions["end_date"] > stamp))]
    return live.groupby("account_id")["mrr_rc"].sum()


def retention_summary(subscriptions: pd.DataFrame, config: RevbotConfig, *, start: date, today: date,
                      renewals_at_risk: int = 0) -> RetentionSummary:
    """ARR today and its change since `start`; NRR/GRR of the accounts that paid at `start`."""
    subs = to_reporting(subscriptions, config, amount_column="mrr", out="mrr_rc")
    before, now = mrr_by_account(subs, start), mrr_by_account(subs, today)
    base = before[before > 0]
    after = now.reindex(base.index).fillna(0.0)
    base_total = float(base.sum())
    return RetentionSummary(
        arr=round(float(now.sum()) * 12, 2),
        arr_change=round((float(now.sum()) - float(before.sum())) * 12, 2),
        nrr=float(after.sum()) / base_total if base_total else None,
        grr=float(after.clip(upper=base).sum()) / base_total if base_total else None,
        churned_logos=int((after <= 0).sum()),
        renewals_at_risk=renewals_at_risk,
        window_days=config.renewal_risk.window_days,
    )


def build_monday(session: Session, config: RevbotConfig, *, today: date, inputs: WeeklyInputs | None = None
                 ) -> MondayDigest:
    """`inputs`: the org's weekly inputs when already loaded (`load_weekly_org`, shared with the team digests)."""
    everyone = Scope.everyone()
    inputs = inputs if inputs is not None else load_weekly(session, config, everyone, today=today)
    weekly = compute_weekly(inputs, config, today=today, title="Monday digest", scope_label="Everyone")
    retention = None
    if data.has_subscriptions(session):
        subscriptions = data.load_live_subscriptions(session, start=weekly.quarter.start, today=today)
        from digests.alerts.inputs import renewal_risk_frame

        window = config.renewal_risk.window_days
        risky = renewal_risk_frame(session, config, today=today, days=window)
        at_risk = int((risky["risk"] >= config.renewal_risk.high_risk_score).sum()) if len(risky) else 0
        retention = retention_summary(subscriptions, config, start=weekly.quarter.start, today=today,
                                      renewals_at_risk=at_risk)
    return MondayDigest(weekly=weekly, retention=retention)
