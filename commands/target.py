"""`/target [@user|team NAME] [PERIOD]`: how a person or team stands against target: closed-won,
attainment, gap, coverage, the forecast (commit / best case) against target and a straight-line
run-rate projection; for a team, the same per person.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands import reply
from commands.arguments import parse_who, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, register
from commands.rendering import Message
from commands.targets import target_in_scope, user_targets
from metrics.periods import Period
from metrics.revenue import Attainment, attainment, forecast, ratio
from storage.queries import load_pipeline_deals, load_users


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
    deals = load_pipeline_deals(ctx.session, ctx.scope, period)
    target = target_in_scope(ctx.session, ctx.scope, period)
    progress = attainment(deals, period=period, target=target, config=ctx.config, today=ctx.today)
    outlook = forecast(deals, period, config=ctx.config)
    people = _per_person(ctx, deals, period) if _is_group(ctx) else []
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


def _per_person(ctx: CommandContext, deals, period: Period) -> list[PersonLine]:  # type: ignore[no-untyped-def]
    """A leaderboard of the people in scope, by attainment (then closed-won)."""
    owner_ids = (
        {int(o) for o in deals["owner_id"].dropna()} if ctx.scope.owner_ids is None else set(ctx.scope.owner_ids)
    )
    targets = user_targets(ctx.session, owner_ids, period)
    owner_ids |= set(targets)
    users = load_users(ctx.session, user_ids=owner_ids)
    lines = []
    for user in users.itertuples(index=False):
        own = deals[deals["owner_id"] == user.id]
        target = targets.get(int(user.id))
        if own.empty and target is None:
            continue
        lines.append(
            PersonLine(
                str(user.name),
                attainment(own, period=period, target=target, config=ctx.config, today=ctx.today),
            )
        )
    return sorted(lines, key=lambda p: (-(p.progress.attainment or -1), -p.progress.closed_won, p.name))


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
