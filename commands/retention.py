"""`/retention [segment NAME|account NAME] [PERIOD]`: ARR, the MRR movements of the period (new,
expansion, contraction, churn, reactivation), NRR, GRR and logo churn.

For the period under way, movements run to today (not to the period's end, which has not happened).

Each account's MRR on the three days the answer reads is summed in SQL
(`storage.customer_queries.retention_totals`), so no subscription row is loaded: an org-wide answer
on the 1M-deal demo took ~4 s through pandas. A currency with no fx rate falls back to the
DataFrame path, which names the missing rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from commands import reply
from commands.arguments import EVERYONE_WORDS, account_subject, parse_who, segment_subject, split_words
from commands.registry import Command, CommandContext, ParseContext, Subject, UsageError, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from metrics.periods import Period
from metrics.retention import (
    arr_from_totals,
    arr_on,
    movements_from_totals,
    mrr_movements,
    retention,
    retention_from_totals,
)
from storage.customer_queries import account_name_if_subscribed, retention_totals
from storage.queries import load_subscriptions


@dataclass(frozen=True)
class RetentionArgs:
    period: Period
    segment: str | None = None
    account_id: int | None = None


def parse(text: str, ctx: ParseContext) -> tuple[RetentionArgs, Subject]:
    words = split_words(text, ctx)
    head, _, rest = words.rest.partition(" ")
    keyword = head.casefold()
    if keyword == "segment":
        subject = segment_subject(rest, ctx.session)
        return RetentionArgs(words.period, segment=str(subject.value)), subject
    if keyword == "account":
        subject = account_subject(rest, ctx.session)
        return RetentionArgs(words.period, account_id=int(subject.value or 0)), subject
    if words.rest and words.rest.casefold() not in EVERYONE_WORDS and not words.rest.casefold().startswith("team"):
        # A bare name: an account first (the common question), else a person or team.
        try:
            subject = account_subject(words.rest, ctx.session)
            return RetentionArgs(words.period, account_id=int(subject.value or 0)), subject
        except UsageError:
            pass  # not an account: people and teams next, whose error names the text
    return RetentionArgs(words.period), parse_who(words.rest, ctx)


def run(args: RetentionArgs, ctx: CommandContext) -> Message:
    period = _to_date(args.period, ctx)
    arr_day = min(ctx.today, period.end)
    # One account is read whoever asks (authorization already allowed it); otherwise the scope's.
    scope = None if args.account_id is not None or ctx.scope.is_everyone else ctx.scope

    def compute() -> Any:
        return retention_totals(
            ctx.session,
            scope,
            day_before=period.start - timedelta(days=1),
            end=period.end,
            arr_day=arr_day,
            period_start=period.start,
            config=ctx.config,
            segment=args.segment,
            account_id=args.account_id,
        )

    totals = shared_numbers(ctx, ("retention", period, arr_day, args.segment, args.account_id), compute)
    if totals is None:
        return _run_frames(args, ctx, period)
    if args.account_id is not None:
        name = account_name_if_subscribed(ctx.session, args.account_id)
        label = args.segment or (str(name) if name is not None else ctx.scope.label)
    else:
        label = args.segment or ctx.scope.label
    return _answer(
        ctx,
        label,
        period,
        arr=arr_from_totals(totals),
        movements=movements_from_totals(totals, period, ctx.config),
        cohort=retention_from_totals(totals, period),
    )


def _run_frames(args: RetentionArgs, ctx: CommandContext, period: Period) -> Message:
    """The DataFrame path: for rows the SQL path cannot price (a currency with no fx rate), where
    `metrics.money` raises the error that names the missing rate."""
    if args.account_id is not None:
        subscriptions = load_subscriptions(ctx.session, None, account_ids=[args.account_id])
    else:
        subscriptions = load_subscriptions(ctx.session, None if ctx.scope.is_everyone else ctx.scope)
    if args.segment is not None and len(subscriptions):
        subscriptions = subscriptions[subscriptions["segment"].astype(object) == args.segment]
    label = args.segment or (ctx.scope.label if args.account_id is None else _account_label(subscriptions, ctx))
    return _answer(
        ctx,
        label,
        period,
        arr=arr_on(subscriptions, min(ctx.today, period.end), ctx.config),
        movements=mrr_movements(subscriptions, period, ctx.config),
        cohort=retention(subscriptions, period, ctx.config),
    )


def _answer(ctx: CommandContext, label: str, period: Period, **values: Any) -> Message:
    return reply.answer(
        ctx, "retention.j2", fallback=f"Retention for {label}, {period.label}", label=label, period=period, **values
    )


def _to_date(period: Period, ctx: CommandContext) -> Period:
    if period.start <= ctx.today < period.end:
        return replace(period, label=f"{period.label} to date", end=ctx.today, code=None)
    return period


def _account_label(subscriptions, ctx: CommandContext) -> str:  # type: ignore[no-untyped-def]
    names = subscriptions["account_name"].dropna() if len(subscriptions) else []
    return str(names.iloc[0]) if len(names) else ctx.scope.label


COMMAND = register(
    Command(
        name="retention",
        description="Retention: ARR, MRR movements (new, expansion, contraction, churn), NRR, GRR, logo churn",
        usage_hint="[segment NAME|account NAME] [PERIOD]",
        examples=("", "segment enterprise", "account acme last quarter", "FY2026"),
        parse=parse,
        run=run,
        help_text=(
            "MRR movements compare each customer's MRR the day before the period with its MRR at the end "
            "(today, for the period under way). NRR and GRR cover the customers who were paying at the "
            "start; new and reactivated customers are left out of both."
        ),
    )
)
