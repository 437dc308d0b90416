"""Load what the alert rules read: one pass over the database per evaluation.

Coverage and renewal risk are computed here from small, pre-filtered frames (open deals closing
this quarter; renewals within the window) so a full evaluation stays well under the 10 s goal on
a million deals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from digests import data
from digests.alerts.rules import AlertInputs
from metrics.periods import fiscal_quarter
from storage import digest_queries
from storage.config import RevbotConfig
from storage.scope import Scope


def gather(session: Session, config: RevbotConfig, *, now: datetime, today: date) -> AlertInputs:
    rules = config.alerts.rules
    # Only the history-based rules look back; renewal_risk's `days` is a look-ahead.
    window = max([rules[name].days or 7 for name in ("slipped_close_date", "stage_regression", "amount_drop")]
                 + [rules["big_deal"].days or 1])
    since = now - timedelta(days=window)
    everyone = Scope.everyone()
    # Only the history the rules read (slips, amount changes, stage regressions), and only deals
    # some rule can match: a fraction of a big org's open deals.
    changes = digest_queries.alert_changes(
        since=since, open_stage_order={s.name: i for i, s in enumerate(config.stages) if s.status == "open"})
    deals = data.load_deals(session, config, alert_candidates(session, config, now=now, today=today, since=since,
                                                              changes=changes))
    history = data.load_history(session, everyone, since=since, only=changes)
    org = data.load_org(session)
    owner_team = {int(u.id): (None if pd.isna(u.team_id) else int(u.team_id)) for u in org.users.itertuples()}
    deals = deals.assign(team_id=deals["owner_id"].map(owner_team))  # each alert's team, for every deal at once
    renewal_days = rules["renewal_risk"].days or config.renewal_risk.window_days
    renewals = renewal_risk_frame(session, config, today=today, days=renewal_days)
    coverage = coverage_by_team(session, config, org, owner_team, today=today, closed_since=since.date())
    return AlertInputs(today=today, now=now, deals=deals, history=history, owner_team=owner_team,
                       renewals=renewals, coverage=coverage)


def alert_candidates(session: Session, config: RevbotConfig, *, now: datetime, today: date, since: datetime,
                     changes: ColumnElement[bool]) -> Select[Any]:
    """SQL for the ids of the deals some rule can match (`storage.digest_queries.alert_candidate_ids`), so a big
    org loads those instead of every open deal. A superset by construction (each bound has a day of
    slack; the rules apply the exact test): deals closed in the window (big deal won/lost); open deals
    idle for the stalled threshold or past their close date; deals created in the big-deal window;
    deals with the history rows the rules read (slipped, regression, amount drop). Coverage is
    summed in SQL (`coverage_by_team`)."""
    rules = config.alerts.rules
    stalled_days = rules["stalled_deal"].days or config.pipeline.stalled_after_days
    return digest_queries.alert_candidate_ids(
        session, idle_before=now - timedelta(days=stalled_days - 1), today=today,
        created_since=today - timedelta(days=(rules["big_deal"].days or 1) + 1), closed_since=since.date(),
        changes=changes)


def coverage_by_team(session: Session, config: RevbotConfig, org: data.Org, owner_team: dict[int, int | None], *,
                     today: date, closed_since: date) -> pd.DataFrame:
    """Per team: open pipeline closing this quarter ÷ (quarter target − closed-won this quarter;
    won deals closed before `closed_since`, the evaluation window, do not count)."""
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    columns = ["team_id", "team_name", "pipeline", "remaining_target", "coverage"]
    if org.teams.empty:
        return pd.DataFrame(columns=columns)
    targets = data.load_targets(session, quarter.start, quarter.end)
    owners = digest_queries.coverage_by_owner(session, quarter=(quarter.start, quarter.end), closed_since=closed_since,
                                              fx_rates=config.fx_rates)
    for code in pd.unique(owners["currency"].dropna()):
        config.fx_rate(str(code))  # names a missing rate, as converting row by row does
    team_of = owners["owner_id"].map(lambda o: owner_team.get(int(o)) if pd.notna(o) else None)
    open_pipe = owners.groupby(team_of)["pipeline"].sum()
    won = owners.groupby(team_of)["won"].sum()
    user_team = targets["user_id"].map(lambda u: owner_team.get(int(u)) if pd.notna(u) else None)
    team_targets = targets[targets["team_id"].notna()].groupby("team_id")["amount"].sum()
    member_targets = targets[targets["team_id"].isna()].groupby(user_team)["amount"].sum()
    rows = []
    for team in org.teams.itertuples():
        target = float(team_targets.get(team.id, 0.0)) or float(member_targets.get(team.id, 0.0))
        if target <= 0:
            continue
        remaining = max(0.0, target - float(won.get(team.id, 0.0)))
        pipeline = float(open_pipe.get(team.id, 0.0))
        rows.append((int(team.id), team.name, pipeline, remaining, pipeline / remaining if remaining else float("inf")))
    return pd.DataFrame(rows, columns=columns)


def _risk_reasons(health_score: float, fall: float, tickets: float, nps: float) -> list[str]:
    """The reasons behind one renewal's risk, in words (NaN: no reading)."""
    why = []
    if health_score == health_score and health_score < 50:  # x == x: not NaN
        why.append(f"health score {health_score:.0f}")
    if fall >= 0.2:
        why.append(f"usage down {fall:.0%} in 90 days")
    if tickets == tickets and tickets >= 3:
        why.append(f"{int(tickets)} open escalations")
    if nps == nps and nps <= 6:
        why.append(f"NPS {int(nps)}")
    return why


def renewal_risk_frame(session: Session, config: RevbotConfig, *, today: date, days: int) -> pd.DataFrame:
    """Renewals in the window with a 0–100 risk score and the reasons behind it.

    Prefers `metrics.retention.renewal_risk` when the metrics package provides it; otherwise a
    transparent score from the configured weights: low health, falling usage, open tickets,
    detractor NPS."""
    renewals = data.load_renewals(session, config, Scope.everyone(), today=today, days=days)
    if renewals.empty:
        return renewals.assign(risk=pd.Series(dtype=float), reasons=pd.Series(dtype=object))
    # Accounts chosen in SQL (the renewing ones: a superset of the frame's, extra rows are ignored
    # below), not as an IN list: a big org has tens of thousands, near SQLite's parameter limit.
    health = data.load_renewing_health(session, today=today, days=days, since=today - timedelta(days=90))
    weights = config.renewal_risk.weights
    total = weights.health + weights.usage_trend + weights.open_tickets + weights.nps or 1.0
    ordered = health.sort_values(["account_id", "date"])
    latest = ordered.groupby("account_id").last()
    first_usage = ordered.groupby("account_id")["usage"].first()
    frame = renewals.set_index("account_id")
    score = lambda: pd.Series(0.0, index=frame.index)  # noqa: E731
    health_score = latest["health_score"].reindex(frame.index)
    usage_now = latest["usage"].reindex(frame.index)
    usage_then = first_usage.reindex(frame.index)
    tickets = latest["open_tickets"].reindex(frame.index)
    nps = latest["nps"].reindex(frame.index)
    fall = ((usage_then - usage_now) / usage_then).where((usage_then > 0) & (usage_now < usage_then)).fillna(0.0)
    risk = score()
    risk += weights.health * (100 - health_score).fillna(0.0)
    risk += weights.usage_trend * (fall * 200).clip(upper=100.0)
    risk += weights.open_tickets * (tickets.fillna(0.0) * 20).clip(upper=100.0)
    risk += weights.nps * (nps <= 6).astype(float) * 100
    reasons = [_risk_reasons(*values) for values in zip(health_score.to_numpy(dtype="float64"), fall.to_numpy(),
                                                         tickets.to_numpy(dtype="float64"),
                                                         nps.to_numpy(dtype="float64"), strict=True)]
    return renewals.assign(risk=(risk / total).round(1).to_numpy(), reasons=reasons)
