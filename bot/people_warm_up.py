"""Every rep's and manager's own numbers computed before they ask.

A Monday morning brings a burst of reps each asking `/pipeline` or `/forecast` about their own book.
Every question is different, so nothing is shared, and each costs 2–15 ms of CPU (a rep's `/funnel`
reads ~4,000 stage changes): fifty at once queue behind each other on a small machine. So after
the org-wide numbers (`bot.org_warm_up`), each answer worker asks the default question of every
`WARMED_COMMANDS` as each person it answers (a rep about their book, a manager about their team)
and keeps the numbers per data version (`shared_numbers.warming()`), with the names of the deals
their `/deal` searches (`commands.deal.keep_searchable_deals`). Their question is then parse →
authorize → render, and a search scans one string. Other periods and arguments are computed when
asked, as before.

The people are the CRM's reps and managers (revbot.toml `roles` overriding the CRM's), split between
the workers the way `bot.answer_workers` routes their questions. Live questions go first:
before each person the warm-up waits until its worker has been idle for a moment.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import access
from bot.dispatch import Request, answer_as, strip_control_characters
from bot.identity import caller_for_email
from bot.org_warm_up import WARMED_COMMANDS
from commands import shared_numbers
from commands.deal import keep_searchable_deals
from commands.registry import Caller, CommandContext, Subject
from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.models import User

log = logging.getLogger(__name__)

WARMED_ROLES = frozenset({"rep", "manager"})


@dataclass(frozen=True)
class PeopleWarmed:
    """What a round did: how many people, in how long, and how many of their questions failed."""

    people: int
    seconds: float
    failures: int


SEARCH_COMMAND = "deal"  # its searches read the deal names the warm-up keeps


def is_warmed_question(request: Request) -> bool:
    """Whether the asker's warm-up prepared this question: a warmed command with no arguments, or a
    `/deal` search."""
    if request.command_name == SEARCH_COMMAND:
        return True
    return request.command_name in WARMED_COMMANDS and not strip_control_characters(request.text).strip()


def people_to_warm(session: Session, config: RevbotConfig) -> list[Caller]:
    """Every rep and manager, as callers (config roles applied), in user id order."""
    with_email = select(User.email).where(User.email.is_not(None)).order_by(User.id)
    emails = [email for (email,) in session.execute(with_email)]
    emails += [email for email, role in config.roles.items() if role in WARMED_ROLES]
    callers: dict[str, Caller] = {}
    for email in emails:
        folded = email.strip().lower()
        if folded in callers:
            continue
        caller = caller_for_email(session, config, folded)
        if caller is not None and caller.role in WARMED_ROLES:
            callers[folded] = caller
    return list(callers.values())


def warm_people_numbers(
    sessions: sessionmaker[Session],
    config: RevbotConfig,
    now: datetime,
    *,
    mine: Callable[[str], bool] = lambda _email: True,
    wait_for_quiet: Callable[[], None] = lambda: None,
) -> PeopleWarmed:
    """Ask each of `WARMED_COMMANDS`' default questions as every rep and manager for whom `mine(email)`,
    keeping the numbers and the deal names their searches read (no reply, no audit row). A question
    that fails is logged and skipped: that person's answer is computed when they ask."""
    started = time.monotonic()
    with sessions() as session:
        people = [caller for caller in people_to_warm(session, config) if mine(caller.email)]
    failed: Counter[str] = Counter()
    with shared_numbers.warming():
        for caller in people:
            wait_for_quiet()
            with sessions() as session:
                for step, warm in _steps(config, caller, now):
                    try:
                        warm(session)
                    except Exception:  # noqa: BLE001 - they get their answer computed when they ask
                        failed[step] += 1
                        # A step's first failure in a round with its traceback, the rest counted: a
                        # bug that fails for everyone logs once, not once per person.
                        if failed[step] == 1:
                            log.exception("warming %s for %s failed", step, caller.email)
                        session.rollback()
    if failed:
        log.warning("warm-up failures this round (computed when asked instead): %s", dict(failed))
    return PeopleWarmed(people=len(people), seconds=time.monotonic() - started, failures=sum(failed.values()))


def _steps(
    config: RevbotConfig, caller: Caller, now: datetime
) -> list[tuple[str, Callable[[Session], object]]]:
    """What the warm-up does for one person, each step on the person's session."""
    def question(name: str) -> Callable[[Session], object]:
        request = Request(f"/{name}", "", caller.email, source="warm-up")
        return lambda session: answer_as(session, config, caller, request, now)

    steps = [(f"/{name}", question(name)) for name in WARMED_COMMANDS]
    steps.append(("/deal names", lambda session: _keep_searchable_deals(session, config, caller, now)))
    return steps


def _keep_searchable_deals(session: Session, config: RevbotConfig, caller: Caller, now: datetime) -> None:
    """The deal names `/deal` searches for this person (`commands.deal.keep_searchable_deals`)."""
    scope = access.authorize(session, config, caller, "deal", Subject("deal_search"))
    today = local_today(config.zone, now)
    ctx = CommandContext(session=session, config=config, caller=caller, scope=scope, today=today, now=now)
    keep_searchable_deals(ctx)
