"""`/target [@user|team NAME] [PERIOD]`: how a person or team stands against target: closed-won,
attainment, gap, coverage, the forecast (commit / best case) against target and a straight-line
run-rate projection; for a team, the same per person.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from commands import reply
from commands.arguments import parse_who, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from commands.targets import target_in_scope, user_targets
from metrics.periods import Period
from metrics.revenue import Attainment, attainment_from_groups, forecast_from_groups, ratio
from storage.queries import (
    PipelineGroup,
    deals_by_owner_sql,
    load_users,
    pipeline_groups_sql,
    pipeline_owner_ids_sql,
)


@dataclass(frozen=True)
class TargetArgs:
    period: Period


@dataclass(frozen=True)
class PersonLine:
    name: str
    progress: Attainment


def parse(text: str, ctx: ParseContext) -> tuple[TargetArgs, Subject]:
    words = split_words(text, ctx)
    return TargetArgs(period=words.period), parse_who(words.rest, ctx)


def run(args: TargetArgs, ctx: CommandContext) -> Message:
    period = args.period
    # Everything in SQL (GROUP BY): the rollup's groups closing in the period are the forecast's
    # input too. No stalled medians needed here, so the rollup's stalled flag is the idle rule only.
    groups = shared_numbers(ctx, ("target rollup", period.start, period.end), lambda: _groups(ctx, period))
    target = target_in_scope(ctx.session, ctx.scope, period)
    progress = attainment_from_groups(groups, period=period, target=target, config=ctx.config, today=ctx.today)
    outlook = forecast_from_groups([group for group in groups if group.closing], period, config=ctx.config)
    people = (
        shared_numbers(ctx, ("target people", period.start, period.end), lambda: _per_person(ctx, period))
        if _is_group(ctx)
        else []
    )
    return reply.answer(
        ctx,
        "target.j2",
        fallback=f"Target for {ctx.scope.label}, {period.label}",
        period=period,
        progress=progress,
        outlook=outlook,
        commit_vs_target=ratio(outlook.commit, target),
        best_case_vs_target=ratio(outlook.best_case, target),
        people=people,
    )


def _is_group(ctx: CommandContext) -> bool:
    return ctx.scope.owner_ids is None or len(ctx.scope.owner_ids) > 1


def _groups(ctx: CommandContext, period: Period) -> list[PipelineGroup]:
    return pipeline_groups_sql(
        ctx.session, ctx.scope, period, today=ctx.today, rules=ctx.config.pipeline, stage_medians={}
    )


def _per_person(ctx: CommandContext, period: Period) -> list[PersonLine]:
    """A leaderboard of the people in scope, by attainment (then closed-won): closed-won and open
    pipeline closing in the period summed per owner in SQL. Everyone with deals that matter for the
    period (open, closed or created in it) or a target gets a line."""
    with_deals = pipeline_owner_ids_sql(ctx.session, ctx.scope, period)
    owner_ids = set(with_deals) if ctx.scope.owner_ids is None else set(ctx.scope.owner_ids)
    targets = user_targets(ctx.session, owner_ids, period)
    owner_ids |= set(targets)
    users = load_users(ctx.session, user_ids=owner_ids)
    sums = _owner_groups(ctx, period)
    lines = []
    for user in users.itertuples(index=False):
        target = targets.get(int(user.id))
        if int(user.id) not in with_deals and target is None:
            continue
        own = sums.get(int(user.id), [])
        lines.append(
            PersonLine(
                str(user.name),
                attainment_from_groups(own, period=period, target=target, config=ctx.config, today=ctx.today),
            )
        )
    return sorted(lines, key=lambda p: (-(p.progress.attainment or -1), -p.progress.closed_won, p.name))


def _owner_groups(ctx: CommandContext, period: Period) -> dict[int, list[PipelineGroup]]:
    """Closed-won and open pipeline closing in the period, per owner and currency (two narrow SQL
    sums), as the groups `attainment_from_groups` reads."""
    groups: dict[int, list[PipelineGroup]] = {}
    for won in (True, False):
        sums = deals_by_owner_sql(
            ctx.session, ctx.scope, won_only=won, open_only=not won, close_date_between=period
        )
        for owner_id, currency, count, amount in zip(
            sums["owner_id"].tolist(), sums["currency"].tolist(), sums["count"].tolist(), sums["amount"].tolist(),
            strict=True,
        ):
            if owner_id is None or owner_id is pd.NA:
                continue
            group = PipelineGroup(None, None, currency, won, won, True, False, False, False, int(count), float(amount))
            groups.setdefault(int(owner_id), []).append(group)
    return groups


COMMAND = register(
    Command(
        name="target",
        description="Attainment vs target: closed-won, gap, coverage, forecast and run-rate projection",
        usage_hint="[@user|team NAME] [PERIOD]",
        examples=("", "team emea", "@dana last quarter", "FY2026"),
        parse=parse,
        run=run,
        help_text=(
            "Closed-won in the period against the target, what is still to win, how well the open pipeline "
            "covers it, the forecast (commit and best case) against the target, and where a straight line "
            "from today's pace lands. For a team, every person's attainment too."
        ),
    )
)
