"""`/renewals [DAYS]`: renewals due in the next DAYS (default `renewal_risk.window_days`), riskiest
first, with the risk score and its reasons in words (`metrics.retention.renewal_risk`).

Only the renewals due are read, through `ix_subscriptions_end_date`, with their accounts' MRR on
two days and their latest health readings (`storage.customer_queries.renewal_inputs`), and scored
in plain Python (`metrics.retention.renewal_risks`); names and owners are looked up for the rows
shown. Org-wide answers are shared per data version (`commands.shared_numbers`). Loading every
subscription and health snapshot into pandas took 20–30 s org-wide on the 1M-deal demo. A currency
with no fx rate falls back to the DataFrame path, which names the missing rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from commands import reply
from commands.arguments import normalize, take_share, unescape_slack
from commands.pipeline import deal_rows
from commands.registry import Command, CommandContext, ParseContext, Subject, UsageError, register
from commands.rendering import Message
from commands.shared_numbers import shared_numbers
from metrics.retention import RankedRenewals, RenewalRisk, renewal_risk, renewal_risks
from storage.customer_queries import account_owners, renewal_inputs
from storage.queries import load_accounts, load_health, load_subscriptions, load_users

MAX_DAYS = 730


@dataclass(frozen=True)
class RenewalsArgs:
    days: int | None  # None: the configured window


def parse(text: str, ctx: ParseContext) -> tuple[RenewalsArgs, Subject]:
    rest, _share = take_share(text)
    words = normalize(rest).casefold().removesuffix(" days").removesuffix("days").removesuffix("d").strip()
    if not words:
        return RenewalsArgs(days=None), Subject("self", ctx.caller.user_id, "you")
    if not (words.isascii() and words.isdigit()) or not 1 <= int(words) <= MAX_DAYS:
        raise UsageError(f"DAYS must be a whole number from 1 to {MAX_DAYS}, not “{unescape_slack(normalize(rest))}”")
    return RenewalsArgs(days=int(words)), Subject("self", ctx.caller.user_id, "you")


def run(args: RenewalsArgs, ctx: CommandContext) -> Message:
    days = args.days or ctx.config.renewal_risk.window_days
    scope = None if ctx.scope.is_everyone else ctx.scope

    def compute() -> RankedRenewals | None:
        inputs = renewal_inputs(ctx.session, scope, today=ctx.today, days=days, config=ctx.config)
        if inputs is None:
            return None
        due, readings = inputs
        return renewal_risks(due, readings, config=ctx.config, limit=reply.LIST_LIMIT)

    ranked = shared_numbers(ctx, ("renewals", days), compute)
    if ranked is None:
        return _run_frames(ctx, days)
    accounts = account_owners(ctx.session, [risk.account_id for risk in ranked.top])
    rows = [_row(risk, *accounts.get(risk.account_id, (None, None))) for risk in ranked.top]
    return _answer(ctx, days, rows, count=ranked.count, total_arr=ranked.total_arr)


def _row(risk: RenewalRisk, account_name: str | None, owner_name: str | None) -> dict[str, Any]:
    return {
        "account_id": risk.account_id,
        "account_name": account_name,
        # A midnight datetime, as the DataFrame path handed the template (a pandas Timestamp): the
        # `date` filter treats datetimes and dates differently when given a zone.
        "renewal_date": datetime.combine(risk.renewal_date, time()),
        "arr": risk.arr,
        "score": risk.score,
        "reasons": risk.reasons,
        "owner_name": owner_name,
    }


def _answer(ctx: CommandContext, days: int, rows: list[dict[str, Any]], *, count: int, total_arr: float) -> Message:
    return reply.answer(
        ctx,
        "renewals.j2",
        fallback=f"{count} renewals in the next {days} days",
        days=days,
        renewals=rows,
        renewal_count=count,
        total_arr=total_arr,
        high_risk=ctx.config.renewal_risk.high_risk_score,
    )


def _run_frames(ctx: CommandContext, days: int) -> Message:
    """The DataFrame path, for rows the SQL path cannot price (a currency with no fx rate): there
    `metrics.money` raises the error that names the missing rate."""
    subscriptions = load_subscriptions(ctx.session, None if ctx.scope.is_everyone else ctx.scope)
    account_ids = sorted({int(a) for a in subscriptions["account_id"].dropna()})
    health = load_health(ctx.session, account_ids=account_ids) if account_ids else None
    risks = renewal_risk(subscriptions, health, today=ctx.today, config=ctx.config, days=days)
    rows = deal_rows(risks)
    _add_owners(ctx, rows)
    total_arr = sum(float(r["arr"] or 0) for r in rows)
    return _answer(ctx, days, rows[: reply.LIST_LIMIT], count=len(rows), total_arr=total_arr)


def _add_owners(ctx: CommandContext, rows: list[dict]) -> None:  # type: ignore[type-arg]
    if not rows:
        return
    accounts = load_accounts(ctx.session, None, account_ids=[int(r["account_id"]) for r in rows])
    owner_of = dict(zip(accounts["id"].astype(int), accounts["owner_id"], strict=True))
    owner_ids = {int(o) for o in owner_of.values() if o is not None and o == o}
    users = load_users(ctx.session, user_ids=owner_ids) if owner_ids else None
    names = dict(zip(users["id"].astype(int), users["name"], strict=True)) if users is not None else {}
    for row in rows:
        owner = owner_of.get(int(row["account_id"]))
        row["owner_name"] = names.get(int(owner)) if owner is not None and owner == owner else None


COMMAND = register(
    Command(
        name="renewals",
        description="Upcoming renewals with a risk score and the reasons behind it",
        usage_hint="[DAYS]",
        examples=("", "30", "180"),
        parse=parse,
        run=run,
        help_text=(
            "Renewals due in the next DAYS (90 unless RevOps set another window), riskiest first. The score "
            "(0–100) weighs health score, usage trend, open tickets, NPS and recent contraction; the weights "
            "are in revbot.toml under renewal_risk.weights."
        ),
    )
)
