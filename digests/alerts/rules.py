"""Alert rules: pure functions from DataFrames to `AlertCandidate`s.

Each rule looks at the data as it is now and says which conditions hold. It knows nothing about
what was already sent; `state.py` decides what fires. Two things make that work:

- `fingerprint` names the condition, not the observation: "stalled_deal:deal:42" stays the same
  every run while deal 42 stays stalled, so the condition alerts once.
- `severity` is a coarse step, not a raw number: a deal idle 21–41 days is severity 1, 42–83 is 2
  (each doubling of the threshold is a step). Raw numbers would change every day and re-fire every
  day; steps re-fire only when the condition really got worse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from storage.config import AlertRule, RevbotConfig

EVENT_RULES = frozenset({"big_deal", "slipped_close_date", "stage_regression", "amount_drop"})
"""Rules about something that happened (not a standing condition): no recovery note when they age out."""


@dataclass(frozen=True)
class AlertCandidate:
    rule: str
    fingerprint: str
    subject_type: str  # deal | account | team
    subject_id: int
    severity: float
    title: str  # plain text; escaped when rendered
    route: str  # owner | team | cs
    owner_id: int | None = None
    team_id: int | None = None
    crm_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertInputs:
    """Everything the rules read. Amounts are already in the reporting currency."""

    today: date
    now: datetime  # naive UTC
    deals: pd.DataFrame  # open deals + recently closed, see digests.data.load_deals (+ team_id: gather)
    history: pd.DataFrame  # deal_history since the longest rule window
    owner_team: dict[int, int | None]  # user id → team id
    renewals: pd.DataFrame  # account_id, account_name, owner_id, arr, renewal_date, risk, reasons
    coverage: pd.DataFrame  # team_id, team_name, pipeline, remaining_target, coverage


def doubling_step(value: float, threshold: float) -> int:
    """1 at the threshold, 2 at twice it, 3 at four times it, ..."""
    if threshold <= 0 or value < threshold:
        return 0
    return 1 + int(math.floor(math.log2(value / threshold)))


def _deal_candidate(rule: str, config: AlertRule, row: Any, severity: float, title: str, **details: Any
                    ) -> AlertCandidate:
    # `team_id`: the owner's team when `digests.alerts.inputs.gather` mapped it for every deal at
    # once; otherwise `evaluate` fills it in (a second candidate per alert: a fifth of the rules' time).
    team = getattr(row, "team_id", None)
    return AlertCandidate(
        rule=rule,
        fingerprint=f"{rule}:deal:{int(row.id)}",
        subject_type="deal",
        subject_id=int(row.id),
        severity=float(severity),
        title=title,
        route=config.route,
        owner_id=None if pd.isna(row.owner_id) else int(row.owner_id),
        team_id=None if team is None or pd.isna(team) else int(team),
        crm_url=row.crm_url if isinstance(row.crm_url, str) else None,
        details={"deal": row.name, "account": row.account_name if isinstance(row.account_name, str) else None,
                 "amount": float(row.amount), "stage": row.stage, **details},
    )


def _open(deals: pd.DataFrame) -> pd.DataFrame:
    return deals[~deals["is_closed"]]


def stalled_deal(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    days = rule.days or config.pipeline.stalled_after_days
    deals = _open(inputs.deals)
    last_touch = deals["last_activity_at"].fillna(deals["created_at"])
    idle = (pd.Timestamp(inputs.now) - pd.to_datetime(last_touch)).dt.days
    out = []
    for row, idle_days in zip(deals[idle >= days].itertuples(), idle[idle >= days], strict=True):
        out.append(_deal_candidate("stalled_deal", rule, row, doubling_step(idle_days, days),
                                   f"{row.name}: no activity for {idle_days} days", idle_days=int(idle_days)))
    return out


def overdue_close_date(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    deals = _open(inputs.deals)
    deals = deals[deals["close_date"].notna()]
    overdue = deals[deals["close_date"] < inputs.today]
    out = []
    for row in overdue.itertuples():
        late = (inputs.today - row.close_date).days
        # Step by month late (1-29 days → 1, 30-59 → 2, ...): overdue only "worsens" monthly.
        out.append(_deal_candidate("overdue_close_date", rule, row, 1 + late // 30,
                                   f"{row.name}: close date {row.close_date:%b %d} passed {late} days ago",
                                   days_overdue=late, close_date=row.close_date.isoformat()))
    return out


def _changes(inputs: AlertInputs, field_name: str, days: int) -> pd.DataFrame:
    history = inputs.history
    if history.empty:
        return history
    since = pd.Timestamp(inputs.now - timedelta(days=days))
    recent = history[(history["field"] == field_name) & (pd.to_datetime(history["changed_at"]) >= since)]
    return recent


def _deal_rows(inputs: AlertInputs, deal_ids: set[int]) -> pd.DataFrame:
    return inputs.deals[inputs.deals["id"].isin(deal_ids)]


def slipped_close_date(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    changes = _changes(inputs, "close_date", rule.days or 7)
    if changes.empty:
        return []
    old = pd.to_datetime(changes["old_value"], errors="coerce")
    new = pd.to_datetime(changes["new_value"], errors="coerce")
    slips = changes[new > old].assign(slip_days=(new - old).dt.days)
    if slips.empty:
        return []
    per_deal = slips.groupby("deal_id").agg(slips=("slip_days", "size"), slip_days=("slip_days", "sum"))
    # Plain dicts: a DataFrame lookup per alert is most of the rule's time on a big org.
    slip_counts, slip_totals = per_deal["slips"].to_dict(), per_deal["slip_days"].to_dict()
    out = []
    for row in _open(_deal_rows(inputs, set(per_deal.index))).itertuples():
        count, total = int(slip_counts[row.id]), int(slip_totals[row.id])
        out.append(_deal_candidate("slipped_close_date", rule, row, count,
                                   f"{row.name}: close date pushed {total} days", slips=count, slip_days=total))
    return out


def big_deal(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    """Big deals created, won or lost in the last `days` (default 1): one alert per event."""
    threshold = rule.min_amount or 100_000
    since = inputs.today - timedelta(days=rule.days or 1)
    deals = inputs.deals[inputs.deals["amount"] >= threshold]
    out = []
    created = deals[pd.to_datetime(deals["created_at"]).dt.date >= since]
    for row in created.itertuples():
        out.append(_event("created", rule, row))
    closed = deals[deals["is_closed"] & deals["close_date"].notna()]
    closed = closed[closed["close_date"] >= since]
    for row in closed.itertuples():
        out.append(_event("won" if row.is_won else "lost", rule, row))
    return out


def _event(what: str, rule: AlertRule, row: Any) -> AlertCandidate:
    candidate = _deal_candidate("big_deal", rule, row, 1, f"Big deal {what}: {row.name}", event=what)
    return AlertCandidate(**{**candidate.__dict__, "fingerprint": f"big_deal:{what}:deal:{int(row.id)}"})


def stage_regression(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    changes = _changes(inputs, "stage", rule.days or 7)
    if changes.empty:
        return []
    order = {s.name: i for i, s in enumerate(config.stages) if s.status == "open"}
    drops = changes.assign(
        steps=changes["old_value"].map(order) - changes["new_value"].map(order)
    ).dropna(subset=["steps"])
    drops = drops[drops["steps"] > 0]
    if drops.empty:
        return []
    worst = drops.sort_values("changed_at").groupby("deal_id").last()
    changes_by_deal = worst[["steps", "old_value", "new_value"]].to_dict("index")
    out = []
    for row in _open(_deal_rows(inputs, set(worst.index))).itertuples():
        change = changes_by_deal[row.id]
        out.append(_deal_candidate("stage_regression", rule, row, int(change["steps"]),
                                   f"{row.name}: moved back from {change['old_value']} to {change['new_value']}",
                                   from_stage=change["old_value"], to_stage=change["new_value"]))
    return out


def amount_drop(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    changes = _changes(inputs, "amount", rule.days or 7)
    if changes.empty:
        return []
    old = pd.to_numeric(changes["old_value"], errors="coerce")
    new = pd.to_numeric(changes["new_value"], errors="coerce")
    drop = ((old - new) / old).where(old > 0)
    minimum = (rule.min_drop_percent or 20) / 100
    drops = changes.assign(drop=drop, old=old, new=new)
    drops = drops[drops["drop"] >= minimum].sort_values("drop").groupby("deal_id").last()
    drops_by_deal = drops[["drop", "old", "new"]].to_dict("index")
    out = []
    for row in _open(_deal_rows(inputs, set(drops.index))).itertuples():
        change = drops_by_deal[row.id]
        pct = float(change["drop"])
        # Each further 10 points of drop is a step: 20% → 1, 30% → 2, ...
        severity = 1 + int((pct - minimum) * 10 + 1e-9)
        out.append(_deal_candidate("amount_drop", rule, row, severity,
                                   f"{row.name}: amount cut by {pct:.0%}", drop_percent=round(pct * 100, 1),
                                   old_amount=float(change["old"]), new_amount=float(change["new"])))
    return out


def renewal_risk(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    renewals = inputs.renewals
    if renewals.empty or "risk" not in renewals:
        return []
    minimum = rule.min_risk if rule.min_risk is not None else config.renewal_risk.high_risk_score
    window_end = inputs.today + timedelta(days=rule.days or config.renewal_risk.window_days)
    risky = renewals[(renewals["risk"] >= minimum) & (renewals["renewal_date"] <= window_end)]
    out = []
    for row in risky.itertuples():
        reasons = list(row.reasons) if isinstance(row.reasons, list | tuple) else []
        out.append(AlertCandidate(
            rule="renewal_risk",
            fingerprint=f"renewal_risk:account:{int(row.account_id)}",
            subject_type="account",
            subject_id=int(row.account_id),
            severity=float(1 + int(max(0.0, float(row.risk) - minimum) // 10)),
            title=f"{row.account_name}: renewal on {row.renewal_date:%b %d} at risk ({row.risk:.0f}/100)",
            route=rule.route,
            owner_id=None if pd.isna(row.owner_id) else int(row.owner_id),
            details={"account": row.account_name, "arr": float(row.arr), "risk": float(row.risk),
                     "renewal_date": row.renewal_date.isoformat(), "reasons": reasons},
        ))
    return out


def low_coverage(inputs: AlertInputs, rule: AlertRule, config: RevbotConfig) -> list[AlertCandidate]:
    below = rule.below if rule.below is not None else 2.0
    coverage = inputs.coverage
    if coverage.empty:
        return []
    low = coverage[(coverage["remaining_target"] > 0) & (coverage["coverage"] < below)]
    out = []
    for row in low.itertuples():
        # Each half-point under the goal is a step: 1.9x → 1, 1.4x → 2, 0.9x → 3 (goal 2.0x).
        severity = 1 + int((below - float(row.coverage)) / 0.5)
        out.append(AlertCandidate(
            rule="low_coverage",
            fingerprint=f"low_coverage:team:{int(row.team_id)}",
            subject_type="team",
            subject_id=int(row.team_id),
            severity=float(severity),
            title=f"{row.team_name}: pipeline covers {row.coverage:.1f}x of the remaining target (goal {below:.1f}x)",
            route=rule.route,
            team_id=int(row.team_id),
            details={"team": row.team_name, "pipeline": float(row.pipeline),
                     "remaining_target": float(row.remaining_target), "coverage": float(row.coverage)},
        ))
    return out


Rule = Callable[[AlertInputs, AlertRule, RevbotConfig], list[AlertCandidate]]

RULES: dict[str, Rule] = {
    "stalled_deal": stalled_deal,
    "overdue_close_date": overdue_close_date,
    "slipped_close_date": slipped_close_date,
    "big_deal": big_deal,
    "stage_regression": stage_regression,
    "amount_drop": amount_drop,
    "renewal_risk": renewal_risk,
    "low_coverage": low_coverage,
}


def evaluate(inputs: AlertInputs, config: RevbotConfig) -> list[AlertCandidate]:
    """Every enabled rule over the inputs; team ids filled in from the owner's team."""
    candidates: list[AlertCandidate] = []
    for name, rule_config in config.alerts.rules.items():
        if not rule_config.enabled:
            continue
        for candidate in RULES[name](inputs, rule_config, config):
            if candidate.team_id is None and candidate.owner_id is not None:
                candidate = AlertCandidate(**{**candidate.__dict__,
                                              "team_id": inputs.owner_team.get(candidate.owner_id)})
            candidates.append(candidate)
    return candidates
