"""`/forecast [team NAME] [PERIOD]`: the cumulative forecast (closed ⊂ commit ⊂ best case ⊂
pipeline) for deals closing in the period, what it was a week ago (deals rebuilt from
`deal_history` as of seven days back), and how the pipeline moved in between.

Only the deals created or changed in the last seven days are loaded and rebuilt; the rest come
as SQL sums (`metrics.forecast_change` explains why that gives the same numbers). Org-wide
answers are shared per data version (`commands.shared_numbers`). A rep's or a team's answer is
computed on plain rows (`compute_rows`), an org's on frames (`compute_frames`): same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from commands import reply
from commands.arguments import parse_who, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from commands.targets import target_in_scope
from metrics.forecast_change import (
    as_they_stood,
    exact_currencies,
    forecast_of,
    forecast_of_rows,
    open_cents,
    open_cents_rows,
    rebuild_changed,
    rebuild_changed_rows,
    state_for_forecast,
    unchanged_group_rows,
    unchanged_groups,
    valued_groups,
    valued_now,
    with_unchanged,
)
from metrics.movement import Bridge, pipeline_bridge
from metrics.periods import Period
from metrics.revenue import Forecast, forecast, ratio
from storage.forecast_queries import changed_deal_rows, changed_deals_sql, closing_rollup_rows, closing_rollup_sql
from storage.queries import load_deals, load_history, load_pipeline_deals

LOOKBACK = timedelta(days=7)
SHOWN_MOVEMENTS = ("new", "pulled_in", "advanced", "slipped", "won", "lost", "amount_up", "amount_down")
MOVEMENT_LABELS = {
    "new": "New",
    "pulled_in": "Pulled in",
    "reopened": "Reopened",
    "advanced": "Advanced a stage",
    "regressed": "Moved back a stage",
    "slipped": "Slipped out of the period",
    "won": "Won",
    "lost": "Lost",
    "amount_up": "Amount up",
    "amount_down": "Amount down",
}


@dataclass(frozen=True)
class ForecastArgs:
    period: Period


@dataclass(frozen=True)
class Line:
    label: str
    now: float
    before: float

    @property
    def change(self) -> float:
        return round(self.now - self.before, 2)


def parse(text: str, ctx: ParseContext) -> tuple[ForecastArgs, Subject]:
    words = split_words(text, ctx)
    return ForecastArgs(period=words.period), parse_who(words.rest, ctx, allow_user=False)


def run(args: ForecastArgs, ctx: CommandContext) -> Message:
    period = args.period
    # Shared org-wide answers keep the week-ago moment of the request that computed them (at most
    # `shared_numbers.TTL_SECONDS` earlier, an hour): a small shift of a seven-day window.
    numbers = shared_numbers(ctx, ("forecast", period.key), lambda: compute(ctx, period, ctx.now - LOOKBACK))
    week_ago = numbers.week_ago
    target = target_in_scope(ctx.session, ctx.scope, period)
    return reply.answer(
        ctx,
        "forecast.j2",
        fallback=f"Forecast for {ctx.scope.label}, {period.label}",
        period=period,
        lines=_lines(numbers.now, numbers.then),
        target=target,
        commit_vs_target=ratio(numbers.now.commit, target),
        week_ago=week_ago,
        bridge=numbers.bridge,
        movements=[
            (MOVEMENT_LABELS[name], numbers.bridge.movements[name])
            for name in SHOWN_MOVEMENTS
            if numbers.bridge.movements[name].count
        ],
    )


@dataclass(frozen=True)
class ForecastNumbers:
    week_ago: datetime
    now: Forecast
    then: Forecast
    bridge: Bridge


def compute(ctx: CommandContext, period: Period, week_ago: datetime) -> ForecastNumbers:
    """The forecast now and a week ago and the bridge between, reading rows only for the deals
    that changed since `week_ago` (see `metrics.forecast_change`); the others come as SQL sums.
    The same numbers as rebuilding every deal (`full_rebuild`)."""
    if ctx.scope.is_everyone:
        return compute_frames(ctx, period, week_ago)
    return compute_rows(ctx, period, week_ago)


def compute_rows(ctx: CommandContext, period: Period, week_ago: datetime) -> ForecastNumbers:
    """`compute` for named owners, on plain rows: a rep's week is a few dozen changed deals and a
    few dozen groups, where pandas' fixed cost per operation made frames ten times slower."""
    closing = closing_rollup_rows(ctx.session, ctx.scope, period, exact_currencies=exact_currencies(ctx.config))
    changed, history = changed_deal_rows(ctx.session, ctx.scope, period, since=week_ago, today=ctx.today)
    unchanged = unchanged_group_rows(closing, changed, period, ctx.config)
    then, bridge = rebuild_changed_rows(changed, history, start=week_ago, end=ctx.now, period=period, config=ctx.config)
    groups_now = valued_groups(unchanged, ctx.config, as_they_stood=False)
    groups_then = valued_groups(unchanged, ctx.config, as_they_stood=True)
    return ForecastNumbers(
        week_ago=week_ago,
        now=forecast_of_rows(groups_now, valued_now(changed, ctx.config), period, ctx.config),
        then=forecast_of_rows(groups_then, then, period, ctx.config),
        bridge=with_unchanged(bridge, open_cents_rows(unchanged, ctx.config)),
    )


def compute_frames(ctx: CommandContext, period: Period, week_ago: datetime) -> ForecastNumbers:
    """`compute` on frames, for everyone: an org's week is tens of thousands of changed deals."""
    closing = closing_rollup_sql(ctx.session, ctx.scope, period, exact_currencies=exact_currencies(ctx.config))
    changed, history = changed_deals_sql(ctx.session, ctx.scope, period, since=week_ago, today=ctx.today)
    unchanged = unchanged_groups(closing, changed, period, ctx.config)
    stood = as_they_stood(unchanged, ctx.config)
    then, bridge = rebuild_changed(changed, history, start=week_ago, end=ctx.now, period=period, config=ctx.config)
    return ForecastNumbers(
        week_ago=week_ago,
        now=forecast_of(unchanged, changed, period, ctx.config),
        then=forecast_of(stood, then, period, ctx.config),
        bridge=with_unchanged(bridge, open_cents(unchanged, ctx.config)),
    )


def full_rebuild(ctx: CommandContext, period: Period, week_ago: datetime) -> ForecastNumbers:
    """`compute` the slow, obvious way: every deal that could matter, rebuilt a week back. The
    reference the fast path is tested against."""
    deals = _deals_for(ctx, period, week_ago)
    history = load_history(ctx.session, ctx.scope, since=week_ago)
    return ForecastNumbers(
        week_ago=week_ago,
        now=forecast(deals, period, config=ctx.config),
        then=forecast(as_of(deals, history, week_ago, ctx), period, config=ctx.config),
        bridge=pipeline_bridge(deals, history, start=week_ago, end=ctx.now, config=ctx.config, period=period),
    )


def _deals_for(ctx: CommandContext, period: Period, since: datetime) -> pd.DataFrame:
    """Every deal that could be in the forecast now or a week ago: open, closing or created in
    the period, or closed since then (a deal won last week with a close date elsewhere)."""
    current = load_pipeline_deals(ctx.session, ctx.scope, period)
    recent = load_deals(ctx.session, ctx.scope, closed_between=(since.date(), ctx.today))
    if recent.empty:
        return current
    return pd.concat([current, recent[~recent["id"].isin(current["id"])]], ignore_index=True)


def as_of(deals: pd.DataFrame, history: pd.DataFrame, moment: datetime, ctx: CommandContext) -> pd.DataFrame:
    """The deals as they were at `moment`, shaped for `metrics.revenue.forecast`
    (`metrics.forecast_change.state_for_forecast`)."""
    return state_for_forecast(deals, history, moment, ctx.config)


def _lines(now: Forecast, then: Forecast) -> list[Line]:
    return [
        Line("Closed", now.closed, then.closed),
        Line("Commit", now.commit, then.commit),
        Line("Best case", now.best_case, then.best_case),
        Line("Pipeline", now.pipeline, then.pipeline),
    ]


COMMAND = register(
    Command(
        name="forecast",
        description="Forecast: closed, commit, best case and pipeline, and what changed since last week",
        usage_hint="[team NAME] [PERIOD]",
        examples=("", "team emea", "all next quarter"),
        parse=parse,
        run=run,
        help_text=(
            "Cumulative forecast categories as in Salesforce: commit includes closed, best case includes "
            "commit, pipeline includes best case; omitted and lost deals are left out. The change is "
            "against the same deals as they stood seven days ago, rebuilt from their history."
        ),
    )
)
