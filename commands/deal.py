"""`/deal TEXT|ID`: deal cards: amount, stage, close date, owner, age in stage, last activity,
recent history and a link to the CRM.

The search runs within the caller's scope (a rep finds only their own deals), so the subject is
`deal_search` and access control decides whose deals are searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from commands import reply
from commands.arguments import normalize, take_share, unescape_slack
from commands.registry import Command, CommandContext, ParseContext, Subject, UsageError, register
from commands.rendering import Message, Mrkdwn, format_date, money
from commands.shared_numbers import kept_for_scope, shared_numbers
from storage.deal_queries import card_history_rows, deal_card_rows, find_deal_ids, searchable_deals

CARD_LIMIT = 5
SEARCH_LIMIT = 50
HISTORY_PER_DEAL = 3
SEARCHABLE_KEY = ("searchable deals",)


@dataclass(frozen=True)
class DealArgs:
    text: str


def parse(text: str, ctx: ParseContext) -> tuple[DealArgs, Subject]:
    rest, _share = take_share(text)
    needle = unescape_slack(normalize(rest)).removeprefix("#").strip()
    if not needle:
        raise UsageError("say which deal: part of its name, its account, or its CRM id")
    if len(needle) > 200:
        raise UsageError("that search is too long; use part of the deal or account name")
    return DealArgs(text=needle), Subject("deal_search", needle, needle)


@dataclass(frozen=True)
class DealCard:
    name: str
    crm_url: str | None
    account_name: str | None
    owner_name: str | None
    amount: Mrkdwn
    stage: str
    probability: float | None
    forecast_category: str | None
    close_date: date | None
    days_overdue: int | None
    is_closed: bool
    is_won: bool
    days_in_stage: int | None
    last_activity: date | None
    days_since_activity: int | None
    history: list[Mrkdwn]


def run(args: DealArgs, ctx: CommandContext) -> Message:
    # Up to SEARCH_LIMIT matches are counted; only the CARD_LIMIT shown are read in full, as plain
    # rows (a DataFrame's fixed cost was most of a rep's answer). An org-wide search reads every
    # deal's name (~0.4 s on 1M deals), so its ids are kept per data version like other org-wide
    # numbers; a rep's or manager's search reads the deal names the warm-up kept for their scope
    # (`keep_searchable_deals`) when it did. The cards themselves are read fresh.
    searchable = kept_for_scope(ctx, SEARCHABLE_KEY)
    found = shared_numbers(
        ctx,
        ("deal search", args.text),
        lambda: tuple(find_deal_ids(ctx.session, ctx.scope, args.text, limit=SEARCH_LIMIT, searchable=searchable)),
    )
    shown = deal_card_rows(ctx.session, ctx.scope, list(found[:CARD_LIMIT]))
    history: dict[int, list[dict[str, Any]]] = {}
    for change in card_history_rows(ctx.session, ctx.scope, [row["id"] for row in shown]):
        history.setdefault(change["deal_id"], []).append(change)
    cards = [_card(row, history.get(row["id"], []), ctx) for row in shown]
    more = len(found) - len(cards)
    return reply.answer(
        ctx,
        "deal.j2",
        fallback=f"{len(found)} deals matching {args.text}" if len(found) != 1 else f"Deal: {cards[0].name}",
        query=args.text,
        cards=cards,
        more=more,
        more_is_lower_bound=len(found) == SEARCH_LIMIT,
        extra_blocks=_buttons(cards),
    )


def keep_searchable_deals(ctx: CommandContext) -> None:
    """For the people warm-up (`shared_numbers.warming()`): keep the deal names of `ctx.scope` (the
    asker's `/deal` scope) for this data version, so their searches run in memory."""
    shared_numbers(ctx, SEARCHABLE_KEY, lambda: searchable_deals(ctx.session, ctx.scope))


def _card(row: dict[str, Any], history: list[dict[str, Any]], ctx: CommandContext) -> DealCard:
    """A card from a `deal_card_rows` row and the deal's changes, oldest first."""
    today = ctx.today
    close = _day(row.get("close_date"))
    activity = _day(row.get("last_activity_at"))
    entered = _day(row.get("stage_entered_at"))
    is_closed = bool(row.get("is_closed"))
    amount = _amount(row.get("amount"), row.get("currency"), ctx) if ctx.scope.show_amounts else Mrkdwn("hidden")
    probability = row.get("probability")
    return DealCard(
        name=str(row.get("name") or "(unnamed deal)"),
        crm_url=row.get("crm_url") if isinstance(row.get("crm_url"), str) else None,
        account_name=_text(row.get("account_name")),
        owner_name=_text(row.get("owner_name")),
        amount=amount,
        stage=str(row.get("stage") or "—"),
        probability=None if probability is None else float(probability),
        forecast_category=_text(row.get("forecast_category")),
        close_date=close,
        days_overdue=(today - close).days if close and not is_closed and close < today else None,
        is_closed=is_closed,
        is_won=bool(row.get("is_won")),
        days_in_stage=(today - entered).days if entered and not is_closed else None,
        last_activity=activity,
        days_since_activity=(today - activity).days if activity else None,
        history=[_change(h, ctx) for h in reversed(history[-HISTORY_PER_DEAL:])],
    )


def _amount(value: Any, currency: Any, ctx: CommandContext) -> Mrkdwn:
    if value is None:
        return Mrkdwn("n/a")
    code = currency if isinstance(currency, str) and currency else ctx.config.reporting_currency
    own = money(float(value), code)
    if code == ctx.config.reporting_currency:
        return own
    converted = money(float(value) * ctx.config.fx_rate(code), ctx.config.reporting_currency)
    return Mrkdwn(f"{own} (≈ {converted})")


def _change(row: dict[str, Any], ctx: CommandContext) -> Mrkdwn:
    """One history row in words: "May 11, 2026: amount $80K → $100K" (values escaped)."""
    field = str(row["field"])
    old, new = row.get("old_value"), row.get("new_value")
    if field == "amount" and not ctx.scope.show_amounts:
        return Mrkdwn(f"{format_date(_day(row['changed_at']))}: amount changed")
    shown_old, shown_new = _value(field, old, ctx), _value(field, new, ctx)
    label = field.replace("_", " ")
    return Mrkdwn(f"{format_date(_day(row['changed_at']))}: {label} {shown_old} → {shown_new}")


def _value(field: str, value: Any, ctx: CommandContext) -> str:
    from commands.rendering import escape_mrkdwn

    if value is None or value == "":
        return "—"
    if field == "amount":
        try:
            return money(float(value), ctx.config.reporting_currency)
        except ValueError:
            pass
    if field == "close_date":
        try:
            return format_date(date.fromisoformat(str(value)[:10]))
        except ValueError:
            pass
    return escape_mrkdwn(str(value)[:80])


def _buttons(cards: list[DealCard]) -> list[dict[str, Any]]:
    """An "Open in CRM" button per card (Slack buttons: plain text label ≤ 75, URL ≤ 3,000)."""
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _label(f"Open {card.name}"), "emoji": False},
            "url": card.crm_url,
            "action_id": f"open_in_crm_{index}",
        }
        for index, card in enumerate(cards)
        if card.crm_url and card.crm_url.startswith(("https://", "http://")) and len(card.crm_url) <= 3000
    ]
    return [{"type": "actions", "elements": elements}] if elements else []


def _label(text: str, limit: int = 75) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(value: Any) -> date | None:
    """The day of a `deal_card_rows` date or timestamp; None for missing."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


COMMAND = register(
    Command(
        name="deal",
        description="Deal cards: amount, stage, close date, owner, activity, history and a CRM link",
        usage_hint="TEXT|ID",
        examples=("acme", "006A000001", "globex renewal"),
        parse=parse,
        run=run,
        help_text=(
            "Finds deals by part of their name, their account's name, or their CRM id, among the deals "
            "you may see, and shows up to five cards, open deals first and biggest first."
        ),
    )
)
