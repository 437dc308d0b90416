"""`/funnel [PERIOD]`: how deals move: stage-to-stage conversion and median time in stage (from every
stage change recorded up to the period's end), win rate, sales cycle, sales velocity and pipeline by
lead source, within the caller's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands import reply
from commands.arguments import reject_extra, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from metrics.periods import Period
from metrics.velocity import (
    Velocity,
    funnel_from_changes,
    median_days_from_stays,
    source_rows_from_totals,
    stage_conversion_rows,
    velocity_from_totals,
)
from storage.funnel_queries import deal_totals_rows, pipeline_stage_columns, stage_change_columns, won_cycles_sql


@dataclass(frozen=True)
class FunnelArgs:
    period: Period


def parse(text: str, ctx: ParseContext) -> tuple[FunnelArgs, Subject]:
    words = split_words(text, ctx)
    reject_extra(words.rest, "give a PERIOD such as `this quarter`, `Q3` or `ytd`")
    return FunnelArgs(period=words.period), Subject("self", ctx.caller.user_id, "you")


def run(args: FunnelArgs, ctx: CommandContext) -> Message:
    period = args.period
    # An org-wide funnel reads every deal and stage change: shared per data version (shared_numbers).
    numbers = shared_numbers(ctx, ("funnel", period.start, period.end), lambda: funnel_numbers(ctx, period))
    return reply.answer(
        ctx,
        "funnel.j2",
        fallback=f"Funnel for {ctx.scope.label}, {period.label}",
        period=period,
        stages=numbers.stages,
        speed=numbers.speed,
        sources=numbers.sources,
    )


@dataclass(frozen=True)
class FunnelNumbers:
    stages: list[dict[str, Any]]
    speed: Velocity
    sources: list[dict[str, Any]]


def funnel_numbers(ctx: CommandContext, period: Period) -> FunnelNumbers:
    """What the reply shows, from aggregates in SQL (`storage.funnel_queries`): the same numbers
    `stage_conversion`, `time_in_stage`, `velocity` and `by_source` give on the loaded frames. The
    small results stay plain rows (a rep's has a few dozen): DataFrames cost more than the queries."""
    session, scope, config = ctx.session, ctx.scope, ctx.config
    start, end, until = period.start, period.end, period.end_exclusive_datetime
    totals = deal_totals_rows(session, scope, start, end, config)
    cycles = won_cycles_sql(session, scope, start, end)
    names = [s.name for s in config.stages]
    changes = stage_change_columns(session, scope, until=until, stages=names)
    pipeline = pipeline_stage_columns(session, scope, start=start, end=end, stages=names)
    reach, stays = funnel_from_changes(changes, pipeline, config)
    medians = median_days_from_stays(stays)
    stages = [
        {**row, "median_days": medians.get(row["stage"])}
        for row in stage_conversion_rows(reach, config)
        if row["reached"] or row["stage"] in medians
    ]
    return FunnelNumbers(
        stages=stages,
        speed=velocity_from_totals(totals, cycles, period=period, config=config),
        sources=source_rows_from_totals(totals, config),
    )


COMMAND = register(
    Command(
        name="funnel",
        description="Funnel: stage conversion, time in stage, win rate, cycle length, velocity, pipeline by source",
        usage_hint="[PERIOD]",
        examples=("", "last quarter", "ytd"),
        parse=parse,
        run=run,
        help_text=(
            "Win rate is won / (won + lost) of the deals closed in the period; the sales cycle runs from "
            "creation to close of the deals won; sales velocity = open deals × win rate × average deal size "
            "÷ cycle days. Conversion and time in stage come from the recorded stage changes."
        ),
    )
)
