"""`/forecast [team NAME] [PERIOD]`: the cumulative forecast (closed ⊂ commit ⊂ best case ⊂
pipeline) for deals closing in the period, what it was a week ago (deals rebuilt from
`deal_history` as of seven days back), and how the pipeline moved in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from commands import reply
from commands.arguments import parse_who, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.targets import target_in_scope
from metrics.movement import pipeline_bridge, state_at
from metrics.periods import Period
from metrics.revenue import Forecast, forecast, ratio
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
    week_ago = ctx.now - LOOKBACK
    deals = _deals_for(ctx, period, week_ago)
    history = load_history(ctx.session, ctx.scope, since=week_ago)
    now_forecast = forecast(deals, period, config=ctx.config)
    then_forecast = forecast(as_of(deals, history, week_ago, ctx), period, config=ctx.config)
    bridge = pipeline_bridge(deals, history, start=week_ago, end=ctx.now, config=ctx.config, period=period)
    target = target_in_scope(ctx.session, ctx.scope, period)
    return reply.answer(
        ctx,
        "forecast.j2",
        fallback=f"Forecast for {ctx.scope.label}, {period.label}",
        period=period,
        lines=_lines(now_forecast, then_forecast),
        target=target,
        commit_vs_target=ratio(now_forecast.commit, target),
        week_ago=week_ago,
        bridge=bridge,
        movements=[
            (MOVEMENT_LABELS[name], bridge.movements[name]) for name in SHOWN_MOVEMENTS if bridge.movements[name].count
        ],
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
    """The deals as they were at `moment`, shaped for `metrics.revenue.forecast`.

    A deal whose stage changed since `moment` without a recorded forecast-category change gets
    no category, so its stage's configured category applies rather than today's.
    """
    state = state_at(deals, history, moment, ctx.config)
    state = state[state["exists"]].copy()
    state["is_closed"] = state["status"] != "open"
    state["is_won"] = state["status"] == "won"
    if history is None or history.empty:
        return state
    later = history[pd.to_datetime(history["changed_at"]) > pd.Timestamp(moment)]
    category_changed = set(later.loc[later["field"] == "forecast_category", "deal_id"].astype(int))
    stage_changed = set(later.loc[later["field"] == "stage", "deal_id"].astype(int)) - category_changed
    state["forecast_category"] = (
        state["forecast_category"].astype(object).where(~state["id"].astype(int).isin(stage_changed), None)
    )
    return state


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
