"""The Monday leadership digest: the weekly numbers for everyone plus a retention summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from digests.weekly import WeeklyDigest, WeeklyInputs, compute_weekly, load_weekly
from metrics.money import from_cents
from storage import digest_queries
from storage.config import RevbotConfig
from storage.database import read_concurrently
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


def retention_summary(totals: dict[str, int], config: RevbotConfig, *, renewals_at_risk: int = 0
                      ) -> RetentionSummary:
    """ARR today and its change since the quarter started; NRR/GRR of the accounts that paid then,
    from `storage.digest_queries.retention_totals` (MRR per account in cents on both days, summed)."""
    before, now = from_cents(totals["before"]), from_cents(totals["now"])
    base = from_cents(totals["base"])
    return RetentionSummary(
        arr=round(now * 12, 2),
        arr_change=round((now - before) * 12, 2),
        nrr=from_cents(totals["base_now"]) / base if base else None,
        grr=from_cents(totals["base_kept"]) / base if base else None,
        churned_logos=totals["churned"],
        renewals_at_risk=renewals_at_risk,
        window_days=config.renewal_risk.window_days,
    )


def build_monday(session: Session, config: RevbotConfig, *, today: date, inputs: WeeklyInputs | None = None,
                 concurrent: bool = False) -> MondayDigest:
    """`inputs`: the org's weekly inputs when already loaded (`load_weekly_org`, shared with the team digests).
    `concurrent`: independent reads run at once on their own connections (`load_weekly`)."""
    everyone = Scope.everyone()
    inputs = inputs if inputs is not None else load_weekly(session, config, everyone, today=today,
                                                           concurrent=concurrent)
    weekly = compute_weekly(inputs, config, today=today, title="Monday digest", scope_label="Everyone")
    retention = None
    if digest_queries.has_subscriptions(session):
        for code in digest_queries.subscription_currencies(session):
            config.fx_rate(code)  # names a missing rate, as converting row by row did
        from digests.alerts.inputs import renewal_risk_frame

        window = config.renewal_risk.window_days
        read = read_concurrently(session, {
            "totals": lambda own: digest_queries.retention_totals(own, start=weekly.quarter.start, today=today,
                                                                  fx_rates=config.fx_rates),
            "risky": lambda own: renewal_risk_frame(own, config, today=today, days=window),
        }, concurrent=concurrent)
        totals, risky = read["totals"], read["risky"]
        at_risk = int((risky["risk"] >= config.renewal_risk.high_risk_score).sum()) if len(risky) else 0
        retention = retention_summary(totals, config, renewals_at_risk=at_risk)
    return MondayDigest(weekly=weekly, retention=retention)
