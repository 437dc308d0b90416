"""The argument grammar every command shares: who (`@user`, `team NAME`, `all`), `segment NAME`,
`account NAME`, a trailing PERIOD, and the `share` keyword.

Slack sends the text of a command with `should_escape: true`, so a mention arrives as
`<@U123|dana>` (or `<@U123>`), a channel as `<#C1|general>`, and a literal `&`, `<`, `>` typed by
the user as `&amp;`, `&lt;`, `&gt;`. People are resolved by Slack id first (the identity module
fills `users.slack_user_id`), then by name or the local part of their email.

Every failure is a `UsageError` whose message names what was wrong; the dispatcher adds the
command's usage and an example.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from commands.registry import ParseContext, Subject, UsageError
from metrics.periods import Period, PeriodError, looks_like_period, parse_period
from storage.models import Account, Team, User
from storage.queries import find_team

MENTION = re.compile(r"^<@([A-Za-z0-9]+)(?:\|([^>]*))?>$")
SPECIAL = re.compile(r"^<[#!][^>]*>$")  # channel links and <!here>-style specials: never a person
EVERYONE_WORDS = frozenset({"all", "everyone", "org", "company"})
SELF_WORDS = frozenset({"me", "mine", "my", "myself"})
PERIOD_SHAPED = re.compile(r"^(?:fy\S*|q\d+|\d{4}-\S+)$", re.IGNORECASE)  # meant as a period, even if wrong
MAX_PERIOD_WORDS = 3  # "this fiscal quarter" is the longest phrase worth trying
MAX_LISTED_MATCHES = 5


@dataclass(frozen=True)
class Words:
    """The argument text after `share` and the trailing period were taken off."""

    rest: str
    period: Period
    share: bool


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of literal characters (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def normalize(text: str | None) -> str:
    """One space between words, no surrounding blanks (Slack keeps newlines and doubled spaces)."""
    return " ".join((text or "").split())


def take_share(text: str) -> tuple[str, bool]:
    """Remove a trailing `share` (post to the channel instead of ephemerally). Only the last word
    counts, as in the dispatcher, so a search for "market share deal" keeps its words."""
    words = normalize(text).split(" ")
    if words and words[-1].casefold() == "share":
        return " ".join(words[:-1]), True
    return " ".join(words), False


def take_period(text: str, ctx: ParseContext) -> tuple[str, Period]:
    """Split a trailing PERIOD off the text ("team emea next quarter" → "team emea", next quarter).

    The longest trailing phrase that looks like a period wins; with none, the period is this quarter.
    """
    words = normalize(text).split(" ") if normalize(text) else []
    for size in range(min(MAX_PERIOD_WORDS, len(words)), 0, -1):
        tail = " ".join(words[-size:])
        if looks_like_period(tail):
            return " ".join(words[:-size]), period_from(tail, ctx)
    if words and PERIOD_SHAPED.match(words[-1]):
        period_from(words[-1], ctx)  # "Q5", "FY20x": say what is wrong with the period itself
    return " ".join(words), period_from("", ctx)


def period_from(text: str, ctx: ParseContext) -> Period:
    try:
        return parse_period(text, today=ctx.today, fiscal_year_start_month=ctx.config.fiscal_year_start_month)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None


def split_words(text: str, ctx: ParseContext) -> Words:
    """`share` and the trailing period taken off; what is left names the subject."""
    rest, share = take_share(text)
    rest, period = take_period(rest, ctx)
    return Words(rest=rest, period=period, share=share)


# --- who --------------------------------------------------------------------------------------


def parse_who(
    text: str,
    ctx: ParseContext,
    *,
    allow_user: bool = True,
    allow_team: bool = True,
    allow_everyone: bool = True,
) -> Subject:
    """`` (you), `me`, `@dana`, `<@U123|dana>`, `Dana Scully`, `team emea`, `emea`, `all`."""
    text = normalize(text)
    folded = text.casefold()
    if not text or folded in SELF_WORDS:
        return Subject("self", ctx.caller.user_id, "you")
    if folded in EVERYONE_WORDS:
        if not allow_everyone:
            raise UsageError(f"`{text}` is not possible here; name a team or leave it out")
        return Subject("everyone", None, "everyone")
    if folded == "team" or folded.startswith("team "):
        if not allow_team:
            raise UsageError("this command does not take a team")
        return team_subject(text[4:].strip(), ctx)
    if SPECIAL.match(text):
        raise UsageError(f"`{text}` is not a person or a team")
    if not allow_user:
        if text.startswith("@") or MENTION.match(text):
            raise UsageError("this command takes a team, like `team emea`, not a person")
        if allow_team:
            return team_subject(text, ctx)
        raise UsageError(f"unexpected `{unescape_slack(text)}`")
    mention = MENTION.match(text)
    if mention:
        return user_subject(resolve_mention(mention.group(1), mention.group(2), ctx.session), ctx)
    name = unescape_slack(text.removeprefix("@")).strip()
    people = find_people(ctx.session, name, partial=False)
    if not people and allow_team and not text.startswith("@"):
        team = find_team(ctx.session, name)
        if team is not None:
            return Subject("team", team.id, team.name)
    return user_subject(one_person(name, people or find_people(ctx.session, name)), ctx)


def user_subject(user: User, ctx: ParseContext) -> Subject:
    if user.id == ctx.caller.user_id:
        return Subject("self", user.id, "you")
    return Subject("user", user.id, user.name)


def resolve_mention(slack_user_id: str, shown_name: str | None, session: Session) -> User:
    """A Slack mention: by Slack id, then by the name Slack showed (`<@U123|dana>`)."""
    user = session.scalars(select(User).where(User.slack_user_id == slack_user_id).limit(1)).first()
    if user is not None:
        return user
    if shown_name:
        return one_person(shown_name, find_people(session, shown_name))
    raise UsageError(f"I don't know who <@{slack_user_id}> is in the CRM yet; try their name instead, e.g. `@dana`")


def find_people(session: Session, name: str, *, partial: bool = True) -> list[User]:
    """Users matching a name, best kind of match first: full name or email local part, then first
    name, then (with `partial`) any part of the name. The first kind that matches anyone wins."""
    folded = name.casefold()
    if not folded:
        return []
    like = _like_escape(folded)
    lowered_name = func.lower(User.name)
    tiers = (
        or_(lowered_name == folded, func.lower(User.email).like(f"{like}@%", escape="\\")),
        lowered_name.like(f"{like} %", escape="\\"),
        lowered_name.like(f"%{like}%", escape="\\"),
    )
    for condition in tiers if partial else tiers[:2]:
        found = list(session.scalars(select(User).where(condition).order_by(User.name).limit(20)))
        if found:
            return found
    return []


def one_person(name: str, people: list[User]) -> User:
    if not people:
        raise UsageError(f"I don't know anyone called “{name}”; use their name as in the CRM or @mention them")
    if len(people) > 1:
        names = ", ".join(p.name for p in people[:MAX_LISTED_MATCHES])
        raise UsageError(f"“{name}” matches {len(people)} people ({names}); use the full name or @mention them")
    return people[0]


def team_subject(name: str, ctx: ParseContext) -> Subject:
    name = unescape_slack(name).strip()
    if not name:
        raise UsageError("say which team, e.g. `team emea`")
    team = find_team(ctx.session, name)
    if team is None:
        known = ", ".join(ctx.session.scalars(select(Team.name).order_by(Team.name).limit(10)))
        hint = f"; teams are: {known}" if known else ""
        raise UsageError(f"there is no team called “{name}”{hint}")
    return Subject("team", team.id, team.name)


# --- segments and accounts ----------------------------------------------------------------------


def segment_subject(name: str, session: Session) -> Subject:
    name = unescape_slack(normalize(name))
    if not name:
        raise UsageError("say which segment, e.g. `segment enterprise`")
    found = session.scalars(
        select(Account.segment).where(func.lower(Account.segment) == name.casefold()).limit(1)
    ).first()
    if found is None:
        known = ", ".join(s for s in session.scalars(select(Account.segment).distinct().order_by(Account.segment)) if s)
        hint = f"; segments are: {known}" if known else ""
        raise UsageError(f"there is no segment called “{name}”{hint}")
    return Subject("segment", found, found)


def account_subject(name: str, session: Session) -> Subject:
    account = find_one_account(session, name)
    return Subject("account", account.id, account.name)


def find_one_account(session: Session, name: str) -> Account:
    """An account by CRM id, exact name, or a unique part of its name."""
    name = unescape_slack(normalize(name))
    if not name:
        raise UsageError("say which account, e.g. `acme`")
    folded = name.casefold()
    exact = list(
        session.scalars(select(Account).where(or_(func.lower(Account.name) == folded, Account.crm_id == name)).limit(2))
    )
    if len(exact) == 1:
        return exact[0]
    like = _like_escape(folded)
    matches = list(
        session.scalars(
            select(Account)
            .where(func.lower(Account.name).like(f"%{like}%", escape="\\"))
            .order_by(Account.name)
            .limit(20)
        )
    )
    return the_one_account(matches, name)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=_Named)


def the_one_account(matches: Sequence[NamedT], name: str) -> NamedT:
    """The single account a part of a name found, or a usage error naming the candidates."""
    if not matches:
        raise UsageError(f"no account matches “{name}”")
    if len(matches) > 1:
        names = ", ".join(a.name for a in matches[:MAX_LISTED_MATCHES])
        more = f" and {len(matches) - MAX_LISTED_MATCHES} more" if len(matches) > MAX_LISTED_MATCHES else ""
        raise UsageError(f"“{name}” matches several accounts ({names}{more}); be more specific")
    return matches[0]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def reject_extra(text: str, what: str) -> None:
    """For commands that take nothing but a period: anything left over is named back."""
    if normalize(text):
        raise UsageError(f"I don't understand “{unescape_slack(normalize(text))}”; {what}")
