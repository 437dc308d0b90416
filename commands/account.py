"""`/account NAME`: one account at a glance: ARR, open deals, next renewal, health and owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from commands import reply
from commands.arguments import account_subject, normalize, take_share, the_one_account, unescape_slack
from commands.pipeline import deal_rows
from commands.registry import Command, CommandContext, ParseContext, Subject, UsageError, register
from commands.rendering import Message
from metrics.money import total, with_amount_rc
from metrics.retention import arr_on
from storage.deal_queries import accounts_containing_sql, exact_accounts_sql
from storage.models import Account, User
from storage.queries import load_deals, load_health, load_subscriptions


@dataclass(frozen=True)
class AccountArgs:
    account_id: int


def parse(text: str, ctx: ParseContext) -> tuple[AccountArgs, Subject]:
    rest, _share = take_share(text)
    if not normalize(rest):
        raise UsageError("say which account, e.g. `/account acme`")
    name = unescape_slack(normalize(rest))
    # An exact name or CRM id by index first (SQLite); elsewhere the shared lookup decides.
    exact = exact_accounts_sql(ctx.session, name)
    if exact is None:
        subject = account_subject(rest, ctx.session)
    elif len(exact) == 1:
        subject = Subject("account", exact[0].id, exact[0].name)
    else:
        subject = _by_part_of_name(ctx.session, name)
    return AccountArgs(account_id=int(subject.value or 0)), subject


def _by_part_of_name(session: Session, name: str) -> Subject:
    """`commands.arguments.find_one_account` once no exact match is found, without repeating its
    exact lookup (a scan of every account's lower-cased name): the same search, the same errors."""
    match = the_one_account(accounts_containing_sql(session, name, limit=20), name)
    return Subject("account", match.id, match.name)


def run(args: AccountArgs, ctx: CommandContext) -> Message:
    account = ctx.session.get(Account, args.account_id)
    if account is None:  # deleted between parse and run
        raise UsageError("that account no longer exists")
    owner = ctx.session.get(User, account.owner_id) if account.owner_id is not None else None
    subscriptions = load_subscriptions(ctx.session, None, account_ids=[account.id])
    deals = with_amount_rc(load_deals(ctx.session, ctx.scope, open_only=True, account_ids=[account.id]), ctx.config)
    deals = deals.sort_values(["close_date", "amount_rc"], ascending=[True, False])
    health = load_health(ctx.session, account_ids=[account.id])
    return reply.answer(
        ctx,
        "account.j2",
        fallback=f"Account: {account.name}",
        account=account,
        owner_name=owner.name if owner else None,
        arr=arr_on(subscriptions, ctx.today, ctx.config),
        products=_products(subscriptions, ctx.today),
        renewal_date=_next_renewal(subscriptions, ctx.today),
        deals=deal_rows(deals),
        open_total=total(deals["amount_rc"]) if len(deals) else 0.0,
        health=_latest_health(health),
    )


def _products(subscriptions: pd.DataFrame, today: date) -> list[str]:
    live = _live(subscriptions, today)
    return sorted({str(p) for p in live["product"].dropna()}) if len(live) else []


def _live(subscriptions: pd.DataFrame, today: date) -> pd.DataFrame:
    if subscriptions.empty:
        return subscriptions
    day = pd.Timestamp(today)
    started = subscriptions["start_date"] <= day
    running = (subscriptions["status"] == "active") | (subscriptions["end_date"] > day)
    return subscriptions[started & running]


def _next_renewal(subscriptions: pd.DataFrame, today: date) -> date | None:
    """The earliest end date of an active subscription, today or later."""
    if subscriptions.empty:
        return None
    active = subscriptions[(subscriptions["status"] == "active") & (subscriptions["end_date"] >= pd.Timestamp(today))]
    return None if active.empty else active["end_date"].min().date()


def _latest_health(health: pd.DataFrame) -> dict[str, Any] | None:
    if health.empty:
        return None
    row = deal_rows(health.tail(1))[0]
    row["date"] = row["date"].date() if row.get("date") is not None else None
    return row


COMMAND = register(
    Command(
        name="account",
        description="Account view: ARR, open deals, renewal date, health and owner",
        usage_hint="NAME",
        examples=("acme", "001A000001"),
        parse=parse,
        run=run,
        help_text="Finds the account by name (or a unique part of it) or CRM id.",
    )
)
