"""`/pipeline [@user|team NAME|all] [PERIOD]`: the open pipeline of a person, a team or everyone:
total and weighted, by stage and forecast category, what closes in the period, what is stalled or
past due, and coverage of the target still to win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from commands import reply
from commands.arguments import parse_who, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from commands.stage_medians import stage_medians
from commands.targets import target_in_scope
from metrics.periods import Period
from metrics.pipeline import PipelineTotals, past_due_records, stalled_records, totals_from_groups
from metrics.revenue import attainment_from_groups
from storage.queries import PipelineGroup, pipeline_groups_sql, top_past_due_rows_sql, top_stalled_rows_sql


@dataclass(frozen=True)
class PipelineArgs:
    period: Period


def parse(text: str, ctx: ParseContext) -> tuple[PipelineArgs, Subject]:
    words = split_words(text, ctx)
    return PipelineArgs(period=words.period), parse_who(words.rest, ctx)


def run(args: PipelineArgs, ctx: CommandContext) -> Message:
    period = args.period
    numbers = shared_numbers(ctx, ("pipeline", period.start, period.end), lambda: pipeline_numbers(ctx, period))
    summary = numbers.summary
    target = target_in_scope(ctx.session, ctx.scope, period)
    progress = attainment_from_groups(numbers.groups, period=period, target=target, config=ctx.config, today=ctx.today)
    return reply.answer(
        ctx,
        "pipeline.j2",
        fallback=f"Pipeline for {ctx.scope.label}, {period.label}",
        period=period,
        summary=summary,
        by_stage=summary.by_stage,
        by_category=summary.by_forecast_category,
        stalled=numbers.stalled,
        stalled_count=summary.stalled_count,
        past_due=numbers.past_due,
        past_due_count=summary.past_due_count,
        progress=progress,
        coverage_goal=ctx.config.pipeline.coverage_goal,
    )


@dataclass(frozen=True)
class PipelineNumbers:
    summary: PipelineTotals
    groups: list[PipelineGroup]  # for attainment
    stalled: list[dict[str, Any]]  # the first rows of the lists, for the template
    past_due: list[dict[str, Any]]


def pipeline_numbers(ctx: CommandContext, period: Period) -> PipelineNumbers:
    """The /pipeline numbers computed in the database: one GROUP BY for every total (by stage, by
    forecast category, closing, created, past due and stalled counts), and only the rows the reply
    lists (`reply.LIST_LIMIT` stalled and past-due deals) — a rep's book at 1M deals is ~33k rows,
    which never leave SQL. Same figures as `metrics.pipeline.pipeline_summary` on the loaded deals
    (weighted amounts are rounded per group instead of per deal: a few cents at most)."""
    medians = stage_medians(ctx)
    rules, fx = ctx.config.pipeline, ctx.config.fx_rates
    groups = pipeline_groups_sql(ctx.session, ctx.scope, period, today=ctx.today, rules=rules, stage_medians=medians)
    stalled = top_stalled_rows_sql(
        ctx.session,
        ctx.scope,
        today=ctx.today,
        rules=rules,
        stage_medians=medians,
        fx_rates=fx,
        limit=reply.LIST_LIMIT,
    )
    past_due = top_past_due_rows_sql(ctx.session, ctx.scope, today=ctx.today, fx_rates=fx, limit=reply.LIST_LIMIT)
    late = past_due_records(past_due, today=ctx.today, config=ctx.config)
    stuck = stalled_records(stalled, today=ctx.today, config=ctx.config, stage_medians=medians)
    return PipelineNumbers(totals_from_groups(groups, period=period, config=ctx.config), groups, stuck, late)


def deal_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for a template list; NaN/NaT become None so templates can test them plainly."""
    if frame.empty:
        return []
    return [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


COMMAND = register(
    Command(
        name="pipeline",
        description="Open pipeline: total, weighted, by stage and category, closing, stalled, coverage",
        usage_hint="[@user|team NAME|all] [PERIOD]",
        examples=("", "team emea", "@dana next quarter", "all this month"),
        parse=parse,
        run=run,
        help_text=(
            "Without a name it is your own pipeline (a manager's is the team's). PERIOD is this quarter by "
            "default; also next quarter, this month, Q3, 2026-Q3, FY2026 or ytd. Coverage is the open "
            "pipeline closing in the period divided by the target still to win."
        ),
    )
)
