"""Revenue: closed-won, attainment against target, coverage, run rate and the forecast.

Definitions (see docs/metrics.md):
- closed-won in a period = Σ amount of won deals whose close date is in the period;
- attainment = closed-won / target (n/a without a target or with a zero target);
- gap = max(target − closed-won, 0), the target still to win;
- run-rate projection = closed-won / elapsed days × period days (n/a before the period starts);
- coverage = open pipeline closing in the period / gap (n/a when there is no gap or no target);
- forecast, Salesforce's cumulative categories: Closed ⊂ Commit ⊂ Best Case ⊂ Pipeline over deals
  closing in the period; Omitted (and lost deals) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp, ensure_datetime, prepare_deals
from metrics.money import from_cents, to_cents
from metrics.periods import Period
from metrics.pipeline import GroupValue, forecast_categories, groups_from_frame
from storage.config import RevbotConfig
from storage.queries import PipelineGroup, TargetRow


@dataclass(frozen=True)
class Attainment:
    period: Period
    currency: str
    closed_won: float
    closed_won_count: int
    target: float | None
    attainment: float | None
    gap: float | None
    run_rate_projection: float | None
    open_in_period: float
    coverage: float | None

    @property
    def projected_attainment(self) -> float | None:
        return ratio(self.run_rate_projection, self.target)


@dataclass(frozen=True)
class Forecast:
    """Cumulative forecast for deals closing in `period` (each number includes the ones before it)."""

    period: Period
    currency: str
    closed: float
    commit: float
    best_case: float
    pipeline: float


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None ("n/a") when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _in_period(column: pd.Series, period: Period) -> pd.Series:
    return (column >= as_timestamp(period.start)) & (column <= as_timestamp(period.end))


def _money_sum(values: pd.Series) -> float:
    return from_cents(to_cents(values).sum()) if len(values) else 0.0


def closed_won(deals: pd.DataFrame, *, period: Period, config: RevbotConfig) -> float:
    frame = prepare_deals(deals, config)
    won = frame[frame["is_closed"] & frame["is_won"] & _in_period(frame["close_date"], period)]
    return _money_sum(won["amount_rc"])


def run_rate_projection(won: float, period: Period, today: date) -> float | None:
    """Straight-line projection of closed-won to the period's end; n/a before the period starts."""
    elapsed = period.elapsed_days(today)
    if elapsed == 0:
        return None
    return round(won / elapsed * period.days, 2)


def attainment(
    deals: pd.DataFrame,
    *,
    period: Period,
    target: float | None,
    config: RevbotConfig,
    today: date,
) -> Attainment:
    """Attainment for the deals given (a rep's, a team's, everyone's) against `target`."""
    frame = prepare_deals(deals, config)
    in_period = _in_period(frame["close_date"], period)
    won = frame[frame["is_closed"] & frame["is_won"] & in_period]
    open_closing = frame[~frame["is_closed"] & in_period]
    won_total = _money_sum(won["amount_rc"])
    open_total = _money_sum(open_closing["amount_rc"])
    gap = None if target is None else round(max(target - won_total, 0.0), 2)
    return Attainment(
        period=period,
        currency=config.reporting_currency,
        closed_won=won_total,
        closed_won_count=len(won),
        target=target,
        attainment=ratio(won_total, target),
        gap=gap,
        run_rate_projection=run_rate_projection(won_total, period, today),
        open_in_period=open_total,
        coverage=ratio(open_total, gap),
    )


def attainment_from_rollup(
    rollup: pd.DataFrame,
    *,
    period: Period,
    target: float | None,
    config: RevbotConfig,
    today: date,
) -> Attainment:
    """`attainment` from `storage.queries.pipeline_rollup_sql` groups (the SQL fast path)."""
    return attainment_from_groups(groups_from_frame(rollup), period=period, target=target, config=config, today=today)


def attainment_from_groups(
    groups: Sequence[PipelineGroup],
    *,
    period: Period,
    target: float | None,
    config: RevbotConfig,
    today: date,
) -> Attainment:
    """`attainment` from `storage.queries.pipeline_groups_sql` groups: closed-won and open pipeline
    among the groups closing in the period, converted and rounded per group, summed in cents."""
    closing = [value for value in GroupValue.all(groups, config) if value.group.closing]
    won = [value for value in closing if value.group.is_closed and value.group.is_won]
    won_total = from_cents(sum(value.cents for value in won))
    open_total = from_cents(sum(value.cents for value in closing if not value.group.is_closed))
    gap = None if target is None else round(max(target - won_total, 0.0), 2)
    return Attainment(
        period=period,
        currency=config.reporting_currency,
        closed_won=won_total,
        closed_won_count=sum(value.group.count for value in won),
        target=target,
        attainment=ratio(won_total, target),
        gap=gap,
        run_rate_projection=run_rate_projection(won_total, period, today),
        open_in_period=open_total,
        coverage=ratio(open_total, gap),
    )


def target_for_period(targets: pd.DataFrame, period: Period) -> float | None:
    """`target_from_rows` for `storage.queries.load_targets` rows of ONE owner set."""
    return target_from_rows(target_rows_of(targets), period)


def target_rows_of(targets: pd.DataFrame | None) -> list[TargetRow]:
    """`storage.queries.load_targets` rows as `TargetRow`s, in the frame's order."""
    if targets is None or targets.empty:
        return []
    frame = ensure_datetime(targets.copy(), ["period_start", "period_end"])
    return [
        TargetRow(_owner(user_id), _owner(team_id), start.date(), end.date(), float(amount))
        for user_id, team_id, start, end, amount in zip(
            frame["user_id"], frame["team_id"], frame["period_start"], frame["period_end"], frame["amount"], strict=True
        )
    ]


def target_from_rows(targets: Sequence[TargetRow], period: Period) -> float | None:
    """The target amount for `period` from the target rows of ONE owner set.

    Per owner (user_id or team_id): a target spanning exactly the period wins; else targets lying
    inside the period are summed (quarters of a year); else overlapping targets are prorated by
    days (a quarter of an annual target). None when there is no target at all.
    """
    if not targets:
        return None
    by_owner: dict[tuple[int | None, int | None], list[TargetRow]] = {}
    for row in targets:
        by_owner.setdefault((row.user_id, row.team_id), []).append(row)
    amount_cents = 0
    for rows in by_owner.values():
        exact = [r for r in rows if r.period_start == period.start and r.period_end == period.end]
        inside = [r for r in rows if r.period_start >= period.start and r.period_end <= period.end]
        if exact or inside:
            amount_cents += sum(round(r.amount * 100) for r in (exact or inside))
            continue
        for row in rows:
            span = (row.period_end - row.period_start).days + 1
            overlap = (min(row.period_end, period.end) - max(row.period_start, period.start)).days + 1
            if span > 0 and overlap > 0:
                amount_cents += round(row.amount * 100 * overlap / span)
    return from_cents(amount_cents)


def _owner(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


FORECAST_KEYS = tuple((c, closed) for c in ("Closed", "Commit", "Best Case", "Pipeline") for closed in (True, False))


def forecast(deals: pd.DataFrame, period: Period, *, config: RevbotConfig) -> Forecast:
    """Closed, Commit, Best Case, Pipeline (cumulative) over deals closing in `period`."""
    frame = prepare_deals(deals, config)
    frame = frame[_in_period(frame["close_date"], period)]
    frame = frame.assign(category=forecast_categories(frame, config))
    return _cumulative(frame, period, config)


def forecast_from_aggregate(aggregate: pd.DataFrame, period: Period, *, config: RevbotConfig) -> Forecast:
    """The same Forecast from `storage.queries.forecast_sql` groups (amount per stage/category/currency)."""
    return forecast_from_groups(groups_from_frame(aggregate), period, config=config)


def forecast_from_groups(groups: Sequence[PipelineGroup], period: Period, *, config: RevbotConfig) -> Forecast:
    """`forecast` over deals given as groups, all of them closing in `period` (e.g. the `closing`
    groups of `storage.queries.pipeline_groups_sql`), in plain Python."""
    totals = dict.fromkeys(FORECAST_KEYS, 0)
    for value in GroupValue.all(groups, config):
        key = (value.category, value.group.is_closed)
        if key in totals:
            totals[key] += value.cents
    return cumulative_forecast(totals, period, config)


def _cumulative(frame: pd.DataFrame, period: Period, config: RevbotConfig) -> Forecast:
    cents = to_cents(frame["amount_rc"]).to_numpy() if len(frame) else np.zeros(0, dtype="int64")
    categories = frame["category"].to_numpy(dtype=object)
    is_closed = frame["is_closed"].to_numpy(dtype=bool)
    totals = {
        (category, closed): int(cents[(categories == category) & (is_closed == closed)].sum())
        for category, closed in FORECAST_KEYS
    }
    return cumulative_forecast(totals, period, config)


def cumulative_forecast(totals: Mapping[tuple[str, bool], int], period: Period, config: RevbotConfig) -> Forecast:
    """Salesforce's cumulative categories from cents per (category, is_closed) (`FORECAST_KEYS`)."""
    closed = totals[("Closed", True)]
    # An open deal marked "Closed" in the CRM is not won yet: count it with Commit.
    commit = closed + totals[("Commit", False)] + totals[("Closed", False)]
    best_case = commit + totals[("Best Case", False)]
    pipeline = best_case + totals[("Pipeline", False)]
    return Forecast(
        period=period,
        currency=config.reporting_currency,
        closed=from_cents(closed),
        commit=from_cents(commit),
        best_case=from_cents(best_case),
        pipeline=from_cents(pipeline),
    )


ATTAINMENT_TABLE_COLUMNS = [
    "team_id",
    "team_name",
    "closed_won",
    "target",
    "attainment",
    "gap",
    "run_rate_projection",
    "open_in_period",
    "coverage",
]


def attainment_by_team(
    rollup: pd.DataFrame,
    users: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    period: Period,
    config: RevbotConfig,
    today: date,
) -> pd.DataFrame:
    """One row per team: closed-won, target, attainment, gap, run rate, open pipeline closing in
    the period and coverage, from `storage.queries.deal_rollup_sql` groups, `load_users` and
    `load_targets`. A team's target is its own team target, else the sum of its members' targets.
    Deals whose owner has no team are left out."""
    teams = users.dropna(subset=["team_id"]).drop_duplicates("team_id")[["team_id", "team_name"]]
    if rollup.empty:
        frame = pd.DataFrame(columns=["owner_id", "amount_rc", "is_closed", "is_won", "in_period"])
    else:
        frame = rollup.copy()
        frame["amount_rc"] = (frame["amount"].astype("float64") * frame["currency"].map(config.fx_rate)).round(2)
    team_of = users.set_index("id")["team_id"]
    frame["team_id"] = frame["owner_id"].map(team_of)
    frame["cents"] = to_cents(frame["amount_rc"]) if len(frame) else pd.Series(dtype="int64")
    in_period = frame["in_period"].astype(bool)
    won = frame[frame["is_closed"].astype(bool) & frame["is_won"].astype(bool) & in_period]
    open_closing = frame[~frame["is_closed"].astype(bool) & in_period]
    won_by_team = won.groupby("team_id")["cents"].sum()
    open_by_team = open_closing.groupby("team_id")["cents"].sum()
    own_targets, member_targets = _targets_by_team(target_rows_of(targets), users)
    rows = []
    for team_id, team_name in teams.itertuples(index=False):
        # a team's own target wins; else its members' targets add up
        target = target_from_rows(own_targets.get(team_id) or member_targets.get(team_id, []), period)
        won_total = from_cents(won_by_team.get(team_id, 0))
        open_total = from_cents(open_by_team.get(team_id, 0))
        gap = None if target is None else round(max(target - won_total, 0.0), 2)
        rows.append(
            {
                "team_id": team_id,
                "team_name": team_name,
                "closed_won": won_total,
                "target": target,
                "attainment": ratio(won_total, target),
                "gap": gap,
                "run_rate_projection": run_rate_projection(won_total, period, today),
                "open_in_period": open_total,
                "coverage": ratio(open_total, gap),
            }
        )
    table = pd.DataFrame(rows, columns=ATTAINMENT_TABLE_COLUMNS, dtype=object)  # None stays "n/a", not NaN
    for name in ("closed_won", "open_in_period"):
        table[name] = table[name].astype("float64")
    return table


def owner_rollup(won_by_owner: pd.DataFrame, open_closing_by_owner: pd.DataFrame) -> pd.DataFrame:
    """Two `storage.queries.deals_by_owner_sql` results (closed-won in the period; open and closing in
    the period) in the shape `attainment_by_team` reads: each is a narrow index range, so together
    they are cheaper than one `deal_rollup_sql` pass when the pipeline by stage comes from elsewhere."""
    won = won_by_owner.assign(is_closed=True, is_won=True, in_period=True)
    still_open = open_closing_by_owner.assign(is_closed=False, is_won=False, in_period=True)
    return pd.concat([won, still_open], ignore_index=True)


def _targets_by_team(
    targets: list[TargetRow], users: pd.DataFrame
) -> tuple[dict[int, list[TargetRow]], dict[int, list[TargetRow]]]:
    """Target rows by team, in their order: each team's own, and its members' (rows of a user with
    no team id). One pass, not a filter per team: an org can have a hundred teams."""
    team_of = {
        int(user_id): int(team_id)
        for user_id, team_id in zip(users["id"], users["team_id"], strict=True)
        if not pd.isna(team_id)
    }
    own: dict[int, list[TargetRow]] = {}
    members: dict[int, list[TargetRow]] = {}
    for row in targets:
        if row.team_id is not None:
            own.setdefault(row.team_id, []).append(row)
        elif row.user_id in team_of:
            members.setdefault(team_of[row.user_id], []).append(row)
    return own, members
