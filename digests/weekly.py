"""The weekly digest's numbers, for leadership (everyone) or one team (its members' deals).

`load_weekly` reads through `storage.queries` within a Scope; `compute_weekly` is pure and builds
on `metrics` (pipeline_summary, attainment, target_for_period, forecast). Only the week-over-week
movement, win rate and velocity are computed here, from the same frames, until `metrics/` offers
them; their definitions are in docs/digests-and-alerts.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from digests import data
from metrics.frames import prepare_deals
from metrics.periods import Period, fiscal_quarter
from metrics.pipeline import PipelineSummary, pipeline_summary
from metrics.revenue import Attainment, Forecast, attainment, forecast, target_for_period
from storage import queries
from storage.config import RevbotConfig
from storage.scope import Scope

TOP_DEALS = 5
RISK_DEALS = 5
# The numbers need no names or joins; the few deals a digest lists get theirs afterwards (`details`).
WEEKLY_DEAL_COLUMNS = tuple(c for c in queries.PIPELINE_COLUMNS if c != "name")
DETAIL_COLUMNS = ("id", "name", "account_name", "owner_name", "crm_url")
Details = Callable[[list[int]], pd.DataFrame]


@dataclass(frozen=True)
class WeeklyInputs:
    deals: pd.DataFrame  # storage.queries.load_pipeline_deals columns
    history: pd.DataFrame  # deal_history since the week started
    targets: pd.DataFrame  # bookings targets of the scope for the quarter
    details: Details | None = None  # deal ids -> DETAIL_COLUMNS, for the listed deals; None: in `deals`


@dataclass(frozen=True)
class Movement:
    label: str
    count: int
    amount: float


@dataclass(frozen=True)
class WeeklyDigest:
    title: str
    scope_label: str
    quarter: Period
    week: Period
    currency: str
    attainment: Attainment
    forecast: Forecast
    pipeline: PipelineSummary
    movement: list[Movement]
    win_rate: float | None
    cycle_days: float | None
    velocity_per_day: float | None
    top_deals: list[dict] = field(default_factory=list)
    risks: list[dict] = field(default_factory=list)
    stalled_amount: float = 0.0
    bookings_by_week: pd.Series | None = None  # cumulative closed-won at each week's end, for the chart
    past_due_amount: float = 0.0


def last_week(today: date) -> Period:
    """The seven days before `today`'s week: Monday to Sunday."""
    monday = today - timedelta(days=today.weekday())
    start = monday - timedelta(days=7)
    return Period(label=f"week of {start:%b} {start.day}", start=start, end=start + timedelta(days=6))


def team_targets(session: Session, period: Period, *, team_id: int | None, member_ids: set[int] | None
                 ) -> pd.DataFrame:
    """A team's own target, or else the sum of its members'; everyone: all team targets, or else
    all rep targets."""
    if team_id is not None:
        own = queries.load_targets(session, period=period, team_ids=[team_id])
        if not own.empty:
            return own
        return queries.load_targets(session, period=period, user_ids=sorted(member_ids or ()))
    every = queries.load_targets(session, period=period)
    team_rows = every[every["team_id"].notna()]
    return team_rows if not team_rows.empty else every[every["user_id"].notna()]


def load_weekly(session: Session, config: RevbotConfig, scope: Scope, *, today: date, team_id: int | None = None
                ) -> WeeklyInputs:
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    week = last_week(today)
    span = (min(quarter.start, week.start), max(quarter.end, today))
    deals = queries.load_pipeline_deals(session, scope, span, columns=WEEKLY_DEAL_COLUMNS)
    history = data.load_open_deal_history(session, scope, since=week.start, until=week.end + timedelta(days=1),
                                          fields=("stage", "close_date"))
    targets = team_targets(session, quarter, team_id=team_id,
                           member_ids=None if scope.owner_ids is None else set(scope.owner_ids))
    return WeeklyInputs(deals=deals, history=history, targets=targets, details=deal_details(session, scope))


def deal_details(session: Session, scope: Scope) -> Details:
    """Names, account, owner and CRM link of the few deals a digest lists (one small query)."""
    return lambda ids: queries.load_deals(session, scope, deal_ids=ids, columns=DETAIL_COLUMNS)


def load_weekly_org(session: Session, config: RevbotConfig, *, today: date) -> WeeklyInputs:
    """The whole org's weekly inputs, loaded once: the Monday digest reads them as they are and
    every team digest takes its slice with `team_slice` (one pass over the deals instead of one
    per team; a big org's team digests then cost one load plus a cheap in-memory split each)."""
    inputs = load_weekly(session, config, Scope.everyone(), today=today)
    # Prepared once here; the marker travels with every slice, so compute_weekly does not redo it.
    return WeeklyInputs(deals=prepare_deals(inputs.deals, config), history=inputs.history, targets=inputs.targets,
                        details=inputs.details)


def team_slice(org: WeeklyInputs, member_ids: set[int], targets: pd.DataFrame, details: Details | None = None
               ) -> WeeklyInputs:
    """One team's weekly inputs cut from the org's: the same rows, in the same order, that
    `load_weekly` would read for a scope of `member_ids`, so the digest comes out identical."""
    owners = org.deals["owner_id"]
    deals = org.deals[owners.isin(member_ids) & owners.notna()].reset_index(drop=True)
    # movement() only counts history of the team's own open deals; keep just those deals' rows.
    history = org.history[org.history["deal_id"].isin(deals["id"])].reset_index(drop=True)
    return WeeklyInputs(deals=deals, history=history, targets=targets, details=details or org.details)


def movement(deals: pd.DataFrame, history: pd.DataFrame, week: Period, config: RevbotConfig) -> list[Movement]:
    """New, advanced, slipped, won, lost during `week` (count and amount in reporting currency)."""
    start, end = pd.Timestamp(week.start_datetime), pd.Timestamp(week.end_exclusive_datetime)
    created = deals[(deals["created_at"] >= start) & (deals["created_at"] < end)]
    closed = deals[deals["is_closed"] & (deals["close_date"] >= start) & (deals["close_date"] < end)]
    won, lost = closed[closed["is_won"]], closed[~closed["is_won"]]
    order = {s.name: i for i, s in enumerate(config.stages)}
    advanced_ids: set[int] = set()
    slipped_ids: set[int] = set()
    if not history.empty:
        stages = history[history["field"] == "stage"]
        forward = stages["new_value"].map(order) > stages["old_value"].map(order)
        advanced_ids = set(stages[forward]["deal_id"].astype(int))
        dates = history[history["field"] == "close_date"]
        new_date = pd.to_datetime(dates["new_value"], errors="coerce")
        later = new_date > pd.to_datetime(dates["old_value"], errors="coerce")
        slipped_ids = set(dates[later]["deal_id"].astype(int))
    open_deals = deals[~deals["is_closed"]]
    advanced = open_deals[open_deals["id"].isin(advanced_ids)]
    slipped = open_deals[open_deals["id"].isin(slipped_ids)]

    def total(frame: pd.DataFrame) -> float:
        return round(float(frame["amount_rc"].sum()), 2) if len(frame) else 0.0

    return [
        Movement("New", len(created), total(created)),
        Movement("Advanced", len(advanced), total(advanced)),
        Movement("Slipped", len(slipped), total(slipped)),
        Movement("Won", len(won), total(won)),
        Movement("Lost", len(lost), total(lost)),
    ]


def win_rate_and_velocity(deals: pd.DataFrame, quarter: Period) -> tuple[float | None, float | None, float | None]:
    """Win rate (won ÷ closed, by count) and average sales cycle of deals closed this quarter;
    velocity = open deals × average won amount × win rate ÷ cycle days (money per day)."""
    start, end = pd.Timestamp(quarter.start), pd.Timestamp(quarter.end)
    closed = deals[deals["is_closed"] & (deals["close_date"] >= start) & (deals["close_date"] <= end)]
    if closed.empty:
        return None, None, None
    won = closed[closed["is_won"]]
    rate = len(won) / len(closed)
    if won.empty:
        return rate, None, None
    cycle = float((won["close_date"] - won["created_at"].dt.normalize()).dt.days.clip(lower=1).mean())
    open_count = int((~deals["is_closed"]).sum())
    velocity = open_count * float(won["amount_rc"].mean()) * rate / cycle
    return rate, cycle, velocity


def weekly_bookings(deals: pd.DataFrame, *, start: date, today: date) -> pd.Series:
    """Cumulative closed-won (reporting currency) at the end of each week from `start` to today."""
    frame = deals  # already prepared
    won = frame[frame["is_closed"] & frame["is_won"] & (frame["close_date"] >= pd.Timestamp(start))
                & (frame["close_date"] <= pd.Timestamp(today))]
    ends = []
    day = start + timedelta(days=6)
    while day < today:
        ends.append(day)
        day += timedelta(days=7)
    ends.append(today)
    values = [float(won.loc[won["close_date"] <= pd.Timestamp(end), "amount_rc"].sum()) for end in ends]
    return pd.Series(values, index=pd.to_datetime(ends))


def _deal_row(row: pd.Series) -> dict:
    return {
        "name": row["name"],
        "account": row.get("account_name"),
        "owner": row.get("owner_name"),
        "amount": float(row["amount_rc"]),
        "stage": row["stage"],
        "close_date": row["close_date"].date() if pd.notna(row["close_date"]) else None,
        "crm_url": row.get("crm_url") if isinstance(row.get("crm_url"), str) else None,
        "reason": row.get("reason"),
    }


def _with_details(details: Details, *frames: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    ids = sorted({int(i) for frame in frames for i in frame["id"]})
    if not ids:
        return frames
    names = details(ids).set_index("id")
    return tuple(frame.drop(columns=[c for c in names.columns if c in frame]).join(names, on="id")
                 for frame in frames)


def compute_weekly(inputs: WeeklyInputs, config: RevbotConfig, *, today: date, title: str, scope_label: str
                   ) -> WeeklyDigest:
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    week = last_week(today)
    deals = prepare_deals(inputs.deals, config)
    summary = pipeline_summary(deals, period=quarter, config=config, today=today)
    target = target_for_period(inputs.targets, quarter)
    rate, cycle, velocity = win_rate_and_velocity(deals, quarter)
    open_deals = deals[~deals["is_closed"]]
    closing = open_deals[(open_deals["close_date"] >= pd.Timestamp(quarter.start))
                         & (open_deals["close_date"] <= pd.Timestamp(quarter.end))]
    top = closing.sort_values(["amount_rc", "id"], ascending=[False, True]).head(TOP_DEALS)
    stalled = summary.stalled
    risk_rows = stalled.sort_values("amount_rc", ascending=False).head(RISK_DEALS) if len(stalled) else stalled
    if inputs.details is not None:
        top, risk_rows = _with_details(inputs.details, top, risk_rows)
    return WeeklyDigest(
        title=title,
        scope_label=scope_label,
        quarter=quarter,
        week=week,
        currency=config.reporting_currency,
        attainment=attainment(deals, period=quarter, target=target, config=config, today=today),
        forecast=forecast(deals, quarter, config=config),
        pipeline=summary,
        movement=movement(deals, inputs.history, week, config),
        win_rate=rate,
        cycle_days=cycle,
        velocity_per_day=velocity,
        top_deals=[_deal_row(r) for _, r in top.iterrows()],
        risks=[_deal_row(r) for _, r in risk_rows.iterrows()],
        stalled_amount=float(stalled["amount_rc"].sum()) if len(stalled) else 0.0,
        past_due_amount=float(summary.past_due["amount_rc"].sum()) if len(summary.past_due) else 0.0,
        bookings_by_week=weekly_bookings(deals, start=quarter.start, today=today),
    )


def as_of_label(as_of: datetime | None) -> str:
    return "never synced" if as_of is None else as_of.isoformat(timespec="minutes")
