"""`/funnel [PERIOD]`: how deals move: stage-to-stage conversion and median time in stage (from the
stage changes recorded in the period), win rate, sales cycle, sales velocity and pipeline by lead
source, within the caller's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands import reply
from commands.arguments import reject_extra, split_words
from commands.pipeline import deal_rows
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from metrics.periods import Period
from metrics.velocity import stage_conversion, time_in_stage, velocity
from metrics.volume import by_source
from storage.queries import load_history, load_pipeline_deals


@dataclass(frozen=True)
class FunnelArgs:
    period: Period


def parse(text: str, ctx: ParseContext) -> tuple[FunnelArgs, Subject]:
    words = split_words(text, ctx)
    reject_extra(words.rest, "give a PERIOD such as `this quarter`, `Q3` or `ytd`")
    return FunnelArgs(period=words.period), Subject("self", ctx.caller.user_id, "you")


def run(args: FunnelArgs, ctx: CommandContext) -> Message:
    period = args.period
    deals = load_pipeline_deals(ctx.session, ctx.scope, period)
    history = load_history(ctx.session, ctx.scope, until=period.end_exclusive_datetime, fields=["stage"])
    conversion = stage_conversion(history, ctx.config, deals=deals)
    stays = time_in_stage(history, deals=deals)
    medians = stays.groupby("stage")["days"].median().to_dict() if len(stays) else {}
    stages = [
        {**row, "median_days": medians.get(row["stage"])}
        for row in deal_rows(conversion)
        if row["reached"] or row["stage"] in medians
    ]
    return reply.answer(
        ctx,
        "funnel.j2",
        fallback=f"Funnel for {ctx.scope.label}, {period.label}",
        period=period,
        stages=stages,
        speed=velocity(deals, period=period, config=ctx.config),
        sources=deal_rows(by_source(deals, period=period, config=ctx.config)),
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
