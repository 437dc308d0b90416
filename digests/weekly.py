"""The weekly digest's numbers, for leadership (everyone) or one team (its members' deals).

`load_weekly` reads per-owner SQL groups (`storage.digest_queries`) and only the few deal rows a
digest can list; `compute_weekly` is pure: the pipeline, attainment and forecast numbers are the
`metrics` definitions summed over groups (`digests.rollups`, `metrics.revenue.*_from_rollup`), the
lists come from `metrics.pipeline` on the listed rows. A run loads the org once
(`load_weekly_org`) and cuts each team from it (`team_slice`). Week-over-week movement, win rate
and velocity are defined in docs/digests-and-alerts.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from digests import rollups
from metrics.frames import prepare_deals
from metrics.periods import Period, fiscal_quarter
from metrics.pipeline import PipelineSummary
from metrics.revenue import Attainment, Forecast, target_for_period
from storage import digest_queries, queries
from storage.config import RevbotConfig
from storage.database import read_concurrently
from storage.scope import Scope

TOP_DEALS = 5
RISK_DEALS = 5
# The numbers need no names or joins; the few deals a digest lists get theirs afterwards (`details`).
WEEKLY_DEAL_COLUMNS = tuple(c for c in queries.PIPELINE_COLUMNS if c != "name")
DETAIL_COLUMNS = ("id", "name", "account_name", "owner_name", "crm_url")
POOL_COLUMNS = (*WEEKLY_DEAL_COLUMNS, *DETAIL_COLUMNS[1:])
Details = Callable[[list[int]], pd.DataFrame]


@dataclass(frozen=True)
class WeeklyInputs:
    """What a weekly digest is computed from: the per-owner SQL groups of `storage.digest_queries`
    (for everyone, for one team, or for the whole org to be cut per team with `team_slice`), and
    the few whole deal rows its lists can show."""

    rollup: pd.DataFrame  # digest_queries.deal_rollup groups
    ages: pd.DataFrame  # digest_queries.open_stage_ages groups
    advanced: pd.DataFrame  # digest_queries.week_changes: advanced deals by owner, last week
    close_changes: pd.DataFrame  # digest_queries.week_changes: close-date changes, last week
    won: pd.DataFrame  # digest_queries.won_by_day, quarter start to today
    pool: pd.DataFrame  # prepared open deals (WEEKLY_DEAL_COLUMNS): see `pool_floor`
    pool_floor: int | None  # `pool` holds every open deal worth at least this many cents (None: no such rule) ...
    pool_owners: frozenset[int] | None  # ... and every open deal of these owners (None: of every owner)
    targets: pd.DataFrame  # bookings targets of the scope for the quarter
    details: Details | None = None  # deal ids -> DETAIL_COLUMNS, for the listed deals; None: in `pool`
    planned: frozenset[frozenset[int]] = frozenset()  # owner sets whose lists `pool` was read for
    every_target: pd.DataFrame | None = None  # every bookings target of the quarter (org inputs), for team_slice
    by_owner: Mapping[str, rollups.OwnerRows] = field(default_factory=dict)  # frame name -> its owners' rows


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
    return targets_of(queries.load_targets(session, period=period), team_id=team_id, member_ids=member_ids)


def targets_of(every: pd.DataFrame, *, team_id: int | None, member_ids: set[int] | None) -> pd.DataFrame:
    """`team_targets` from every target of the period (`storage.queries.load_targets` rows)."""
    if team_id is not None:
        own = every[every["team_id"] == team_id]
        if not own.empty:
            return own
        return every[every["user_id"].isin(sorted(member_ids or ()))]
    team_rows = every[every["team_id"].notna()]
    return team_rows if not team_rows.empty else every[every["user_id"].notna()]


def _owner_ids(scope: Scope) -> set[int] | None:
    return None if scope.is_everyone else set(scope.owner_ids or ())


def list_floor(rollup: pd.DataFrame, ages: pd.DataFrame, config: RevbotConfig, *, today: date) -> int | None:
    """The smallest deal (cents) that can appear in a digest's top-deal or risk list, for the
    groups of one owner set; None when any open deal can."""
    stalled = rollups.stalled_mask(ages, rollups.stage_medians(ages), config=config)
    return rollups.floor_for_lists(rollup, ages["max_cents"].to_numpy()[stalled], top=TOP_DEALS, risks=RISK_DEALS)


def load_weekly(session: Session, config: RevbotConfig, scope: Scope, *, today: date, team_id: int | None = None,
                list_owner_sets: Iterable[set[int]] = (), concurrent: bool = False) -> WeeklyInputs:
    """A scope's weekly inputs: five GROUP BY queries plus the few deal rows its lists can show
    (and those of `list_owner_sets`, the teams a run will cut from these inputs). `concurrent`: the
    independent queries run at once on their own connections (`storage.database.read_concurrently`),
    for callers whose session holds no uncommitted writes (a digest run)."""
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    week = last_week(today)
    owner_ids = _owner_ids(scope)
    fx = config.fx_rates
    until = week.end + timedelta(days=1)
    stage_order = {s.name: i for i, s in enumerate(config.stages)}
    probabilities = {s.name.lower(): s.probability for s in config.stages}
    read = read_concurrently(session, {
        "rollup": lambda own: digest_queries.deal_rollup(
            own, quarter=(quarter.start, quarter.end), week=(week.start, week.end), today=today, fx_rates=fx,
            probabilities=probabilities, owner_ids=owner_ids),
        "ages": lambda own: digest_queries.open_stage_ages(
            own, today=today, stalled_after_days=config.pipeline.stalled_after_days, fx_rates=fx, owner_ids=owner_ids),
        "week": lambda own: digest_queries.week_changes(
            own, since=week.start, until=until, fx_rates=fx, stage_order=stage_order, owner_ids=owner_ids),
        "won": lambda own: digest_queries.won_by_day(
            own, start=quarter.start, end=today, fx_rates=fx, owner_ids=owner_ids),
    }, concurrent=concurrent)
    rollup = rollups.with_categories(read["rollup"], config)
    ages = rollups.with_days_in_stage(read["ages"], today=today)
    advanced, changes = read["week"]
    changes = rollups.with_later(changes)
    won = read["won"]
    # Per-digest work is a few dozen array sums; prepare every column it reads once, here.
    rollup, ages, advanced, changes, won = (rollups.plain_strings(rollups.owner_floats(f))
                                            for f in (rollup, ages, advanced, changes, won))
    list_owner_sets = list(list_owner_sets)
    # Inputs cut per team (an org load) index each frame's owners once: a cut is then a take, not a scan.
    by_owner = {name: rollups.OwnerRows(frame) for name, frame in (
        ("rollup", rollup), ("ages", ages), ("advanced", advanced), ("close_changes", changes), ("won", won))
    } if list_owner_sets else {}

    def cut(name: str, frame: pd.DataFrame, ids: set[int] | None) -> pd.DataFrame:
        return by_owner[name].cut(frame, ids) if name in by_owner else rollups.owners(frame, ids)

    floors = [(ids, list_floor(cut("rollup", rollup, ids), cut("ages", ages, ids), config, today=today))
              for ids in [owner_ids, *list_owner_sets]]
    floor, full_owners = floors[0][1], _full_owners(floors)
    ids = _pool_ids(digest_queries.open_deal_amounts(session, min_cents=_lowest(floors), every_deal_of=full_owners,
                                                     fx_rates=fx, owner_ids=owner_ids), floors)
    # The listed deals' names come with them: one query for every digest cut from these inputs.
    pool = rollups.with_stall_days(rollups.plain_strings(rollups.owner_floats(prepare_deals(
        queries.load_deals(session, Scope.everyone(), deal_ids=ids, columns=POOL_COLUMNS), config))), today=today)
    pool.attrs = {}  # prepare_deals' marker: pandas deep-copies attrs on every column read of every digest
    rollups.check_currencies(rollup, config)
    targets = team_targets(session, quarter, team_id=team_id, member_ids=owner_ids)
    if by_owner:
        by_owner["pool"] = rollups.OwnerRows(pool)
    return WeeklyInputs(rollup=rollup, ages=ages, advanced=advanced, close_changes=changes, won=won, pool=pool,
                        pool_floor=floor, pool_owners=full_owners,
                        targets=targets, planned=frozenset(frozenset(ids) for ids in list_owner_sets),
                        every_target=queries.load_targets(session, period=quarter) if list_owner_sets else None,
                        by_owner=by_owner)


Floors = list[tuple[set[int] | None, int | None]]  # (owner set, or None: the whole scope; its list_floor)


def _full_owners(floors: Floors) -> frozenset[int] | None:
    """The owners whose every open deal `pool` holds: those of the sets with too few groups to bound
    their lists (None: everyone's, when the whole scope has too few)."""
    if any(ids is None and floor is None for ids, floor in floors):
        return None
    return frozenset().union(*(ids for ids, floor in floors if ids is not None and floor is None))


def _lowest(floors: Floors) -> int | None:
    known = [floor for _, floor in floors if floor is not None]
    return min(known) if known else None


def _pool_ids(candidates: pd.DataFrame, floors: Floors) -> list[int]:
    """The ids of the `open_deal_amounts` rows some owner set's lists can show: worth at least the
    floor of a set their owner is in (the scope's own floor applies to every deal of the scope), or
    of an owner whose every deal is read. Each set reads down to its own floor, not the lowest of
    all: with 127 teams the lowest is small, and a deal of one team below another team's floor can
    never be listed."""
    if not any(ids is not None for ids, _ in floors) or _full_owners(floors) is None:
        return [int(i) for i in candidates["id"]]  # the one scope, or every deal: the SQL already chose
    scope_floor = floors[0][1] if floors[0][0] is None else None
    threshold: dict[float, float] = {}
    for ids, floor in floors:
        for owner in ids if ids is not None else ():
            bound = float("-inf") if floor is None else float(floor)
            threshold[float(owner)] = min(threshold.get(float(owner), float("inf")), bound)
    default = float("inf") if scope_floor is None else float(scope_floor)
    owners = candidates["owner_id"].to_numpy(dtype="float64", na_value=np.nan)
    bounds = np.array([threshold.get(owner, default) for owner in owners.tolist()], dtype="float64")
    if scope_floor is not None:
        bounds = np.minimum(bounds, default)
    keep = candidates["cents"].to_numpy(dtype="float64") >= bounds
    return [int(i) for i in candidates["id"].to_numpy()[keep]]


def deal_details(session: Session, scope: Scope) -> Details:
    """Names, account, owner and CRM link of the few deals a digest lists (one small query)."""
    return lambda ids: queries.load_deals(session, scope, deal_ids=ids, columns=DETAIL_COLUMNS)


def load_weekly_org(session: Session, config: RevbotConfig, *, today: date,
                    teams: Iterable[set[int]] | None = None, concurrent: bool = False) -> WeeklyInputs:
    """The whole org's weekly inputs, loaded once: the Monday digest reads them as they are and
    every team digest (`teams`: their member ids; default every team's) takes its slice with
    `team_slice`, a few in-memory sums instead of its own queries."""
    from digests.team import team_members  # team builds on this module

    member_sets = list(teams) if teams is not None else list(team_members(session).values())
    return load_weekly(session, config, Scope.everyone(), today=today, list_owner_sets=member_sets,
                       concurrent=concurrent)


def team_slice(org: WeeklyInputs, member_ids: set[int], targets: pd.DataFrame, details: Details | None = None
               ) -> WeeklyInputs:
    """One team's weekly inputs cut from the org's: its members' groups and listed-deal rows,
    the same that `load_weekly` reads for a scope of `member_ids`, so the digest comes out identical
    (when `covers` says the org's rows include every deal the team's lists can show)."""
    def cut(name: str) -> pd.DataFrame:
        frame = getattr(org, name)
        if name in org.by_owner:  # the org load indexed its owners' rows
            return org.by_owner[name].cut(frame, member_ids)
        return rollups.owners(frame, member_ids)  # positions, not labels, are read downstream

    return WeeklyInputs(rollup=cut("rollup"), ages=cut("ages"), advanced=cut("advanced"),
                        close_changes=cut("close_changes"), won=cut("won"), pool=cut("pool"),
                        pool_floor=org.pool_floor, pool_owners=org.pool_owners, targets=targets,
                        details=details or org.details, planned=org.planned)


def covers(inputs: WeeklyInputs, member_ids: set[int], config: RevbotConfig, *, today: date) -> bool:
    """Whether `inputs.pool` holds every deal the lists of these members' groups can show."""
    if inputs.pool_owners is None or member_ids in inputs.planned or member_ids <= inputs.pool_owners:
        return True
    floor = list_floor(inputs.rollup, inputs.ages, config, today=today)
    return floor is not None and inputs.pool_floor is not None and floor >= inputs.pool_floor


def movement(groups: rollups.Sums, inputs: WeeklyInputs) -> list[Movement]:
    """New, advanced, slipped, won, lost during last week (count and amount in reporting currency)."""
    created, closed, is_won = groups["created_w"], groups["closed_w"], groups["is_won"]
    slipped = rollups.slipped(inputs.close_changes)
    return [
        Movement("New", groups.count(created), groups.money(created)),
        Movement("Advanced", int(inputs.advanced["count"].sum()), rollups.cents_total(inputs.advanced)),
        Movement("Slipped", *slipped),
        Movement("Won", groups.count(closed & is_won), groups.money(closed & is_won)),
        Movement("Lost", groups.count(closed & ~is_won), groups.money(closed & ~is_won)),
    ]


def win_rate_and_velocity(groups: rollups.Sums) -> tuple[float | None, float | None, float | None]:
    """Win rate (won ÷ closed, by count) and average sales cycle of deals closed this quarter;
    velocity = open deals × average won amount × win rate ÷ cycle days (money per day)."""
    closed = groups["is_closed"] & groups["closing"]
    closed_count = groups.count(closed)
    if not closed_count:
        return None, None, None
    won = closed & groups["is_won"]
    won_count = groups.count(won)
    rate = won_count / closed_count
    if not won_count:
        return rate, None, None
    with_days = int(groups["cycle_deals"][won].sum())
    cycle = float(groups["cycle_days"][won].sum()) / with_days if with_days else float("nan")
    open_count = groups.count(~groups["is_closed"])
    velocity = open_count * (groups.money(won) / won_count) * rate / cycle
    return rate, cycle, velocity


def weekly_bookings(won: pd.DataFrame, *, start: date, today: date) -> pd.Series:
    """Cumulative closed-won (reporting currency) at the end of each week from `start` to today."""
    ends = []
    day = start + timedelta(days=6)
    while day < today:
        ends.append(day)
        day += timedelta(days=7)
    ends.append(today)
    return pd.Series(rollups.cumulative_by_week(won, ends), index=pd.to_datetime(ends))


def top_closing(pool: pd.DataFrame, quarter: Period, limit: int) -> pd.DataFrame:
    """The `limit` biggest open deals of `pool` closing in the quarter, biggest first, ties by id."""
    close = pool["close_date"].to_numpy()
    closing = np.flatnonzero((close >= np.datetime64(quarter.start)) & (close <= np.datetime64(quarter.end)))
    amounts, ids = pool["amount_rc"].to_numpy()[closing], pool["id"].to_numpy(dtype="float64")[closing]
    return pool.iloc[closing[np.lexsort((ids, -amounts))[:limit]]]


def _deal_rows(frame: pd.DataFrame) -> list[dict]:
    """The listed deals as the template reads them (column arrays: a handful of rows)."""
    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=object) if name in frame else np.full(len(frame), None, dtype=object)

    names, accounts, owners, amounts, stages, closes, urls, reasons = (column(c) for c in (
        "name", "account_name", "owner_name", "amount_rc", "stage", "close_date", "crm_url", "reason"))
    return [
        {
            "name": names[i],
            "account": accounts[i],
            "owner": owners[i],
            "amount": float(amounts[i]),
            "stage": stages[i],
            "close_date": closes[i].date() if pd.notna(closes[i]) else None,
            "crm_url": urls[i] if isinstance(urls[i], str) else None,
            "reason": reasons[i],
        }
        for i in range(len(frame))
    ]


def _with_details(details: Details, *frames: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    ids = sorted({int(i) for frame in frames for i in frame["id"]})
    if not ids:
        return frames
    names = details(ids).set_index("id")
    return tuple(frame.drop(columns=[c for c in names.columns if c in frame]).join(names, on="id")
                 for frame in frames)


def pipeline_from_groups(inputs: WeeklyInputs, groups: rollups.Sums, config: RevbotConfig, *, quarter: Period,
                         today: date) -> PipelineSummary:
    """`metrics.pipeline.pipeline_summary` of the scope from its groups. The `stalled` frame holds
    only the RISK_DEALS biggest stalled deals and `past_due` none (the digest lists no more); their
    counts and amounts cover every deal."""
    is_open = ~groups["is_closed"]
    closing, created, late = is_open & groups["closing"], groups["created_q"], is_open & groups["past_due"]
    medians = rollups.stage_medians(inputs.ages)
    stuck = rollups.stalled_groups(inputs.ages, medians, config=config)
    return PipelineSummary(
        period=quarter,
        currency=config.reporting_currency,
        total=groups.money(is_open),
        weighted=groups.money(is_open, "weighted_cents"),
        count=groups.count(is_open),
        by_stage=rollups.by_stage(groups, is_open, config),
        by_forecast_category=rollups.by_forecast_category(groups, is_open),
        closing_in_period=groups.money(closing),
        closing_in_period_count=groups.count(closing),
        closing_in_period_weighted=groups.money(closing, "weighted_cents"),
        created_in_period=groups.money(created),
        created_in_period_count=groups.count(created),
        past_due=inputs.pool.iloc[0:0],
        stalled=rollups.biggest_stalled(inputs.pool, medians, config=config, limit=RISK_DEALS),
        past_due_count=groups.count(late),
        past_due_amount=groups.money(late),
        stalled_count=int(stuck["count"].sum()),
        stalled_amount=rollups.cents_total(stuck),
    )


def compute_weekly(inputs: WeeklyInputs, config: RevbotConfig, *, today: date, title: str, scope_label: str
                   ) -> WeeklyDigest:
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    groups = rollups.Sums(inputs.rollup)
    summary = pipeline_from_groups(inputs, groups, config, quarter=quarter, today=today)
    target = target_for_period(inputs.targets, quarter)
    rate, cycle, velocity = win_rate_and_velocity(groups)
    top = top_closing(inputs.pool, quarter, TOP_DEALS)
    risk_rows = summary.stalled  # the biggest first, ties by id: the risks listed
    if inputs.details is not None:
        top, risk_rows = _with_details(inputs.details, top, risk_rows)
    return WeeklyDigest(
        title=title,
        scope_label=scope_label,
        quarter=quarter,
        week=last_week(today),
        currency=config.reporting_currency,
        attainment=rollups.attainment(groups, period=quarter, target=target, config=config, today=today),
        forecast=rollups.forecast(groups, quarter, config),
        pipeline=summary,
        movement=movement(groups, inputs),
        win_rate=rate,
        cycle_days=cycle,
        velocity_per_day=velocity,
        top_deals=_deal_rows(top),
        risks=_deal_rows(risk_rows),
        stalled_amount=summary.stalled_amount,
        past_due_amount=summary.past_due_amount,
        bookings_by_week=weekly_bookings(inputs.won, start=quarter.start, today=today),
    )


def as_of_label(as_of: datetime | None) -> str:
    return "never synced" if as_of is None else as_of.isoformat(timespec="minutes")
