"""THE path every question takes, from Slack, `revbot ask` or App Home:

resolve caller → `help` → parse → authorize → run (worker thread, own session) → audit → Message.

Nothing here knows about HTTP or Slack payloads; the listeners turn a slash command into a
`Request` and post the `Outcome`. Every request writes one audit row, allowed or refused, and no
exception ever reaches the user: bad input gets a usage message with an example, a refusal says
why, and anything unexpected is logged with a reference the user can quote.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache, partial
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import access
from bot.answer_workers import AnswerWorkers
from bot.identity import caller_for_email, unknown_user_text
from commands.registry import (
    AccessDenied,
    Caller,
    Command,
    CommandContext,
    ParseContext,
    UsageError,
    all_commands,
    get_command,
)
from commands.rendering import Message, context_block, escape_mrkdwn, header_block, section_blocks, validate_blocks
from metrics.periods import local_today
from storage import audit
from storage.config import RevbotConfig
from storage.models import Team
from storage.scope import Scope

log = logging.getLogger(__name__)

Status = Literal["answered", "help", "usage", "refused", "unknown_user", "unknown_command", "error"]
HELP_WORDS = frozenset({"help", "?", "-h", "--help"})
SHARE_WORD = "share"
ANSWER_WORKERS = 3
ACK_SWITCH_INTERVAL = 0.001  # seconds; see `_answer_pool`
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Request:
    command: str  # "/pipeline" or "pipeline"
    text: str
    email: str | None  # None: Slack had no email for this person
    slack_user_id: str | None = None
    channel_id: str | None = None
    source: str = "slack"  # slack | cli | home | warm-up
    display_name: str = ""

    @property
    def command_name(self) -> str:
        return self.command.strip().lstrip("/").lower()


@dataclass
class Outcome:
    message: Message
    status: Status
    caller: Caller | None = None
    scope: Scope | None = None
    share_requested: bool = False
    share_channel: str | None = None  # set only when the channel's scope allows this answer
    share_refusal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.status in ("answered", "help")


async def dispatch(
    sessions: sessionmaker[Session],
    config: RevbotConfig,
    request: Request,
    *,
    now: datetime | None = None,
    workers: AnswerWorkers | None = None,
) -> Outcome:
    """The async face for the bot: the database work runs in a worker thread so the event loop
    keeps acknowledging other commands however slow a query is. The pool is small on purpose:
    every busy worker competes with the event loop for the GIL, and acks must stay fast.

    Identical requests (same person, command, words and channel) that arrive while the first is
    being answered share its answer instead of queueing for a worker each: a double-submitted
    command, or a retried one, costs one computation. Each still gets its own audit row.

    With `workers` (`bot.answer_workers`), the answer is computed in a worker process instead."""
    loop = asyncio.get_running_loop()
    key = (id(sessions), id(config), request)
    running = _answering.get(key)
    if running is not None:
        outcome = await asyncio.shield(running)
        await loop.run_in_executor(_answer_pool(), partial(_audit, sessions, request, outcome, _utc_now()))
        return outcome
    if workers is not None:
        future: asyncio.Future[Outcome] = asyncio.ensure_future(workers.answer(request, now))  # type: ignore[arg-type]
    else:
        future = loop.run_in_executor(_answer_pool(), partial(answer, sessions, config, request, now=now))
    _answering[key] = future
    try:
        return await future
    finally:
        _answering.pop(key, None)


_answering: dict[tuple[int, int, Request], asyncio.Future[Outcome]] = {}


@cache
def _answer_pool() -> ThreadPoolExecutor:
    # Answer threads spend part of their time in pandas, holding the GIL; the event loop asks for
    # it back at every socket read/write of an ack. At the default 5 ms switch interval each such
    # hand-over can cost up to 5 ms, so acks under load add up to hundreds of ms; 1 ms shortens it.
    if sys.getswitchinterval() > ACK_SWITCH_INTERVAL:
        sys.setswitchinterval(ACK_SWITCH_INTERVAL)
    return ThreadPoolExecutor(max_workers=ANSWER_WORKERS, thread_name_prefix="revbot-answer")


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def answer(
    sessions: sessionmaker[Session], config: RevbotConfig, request: Request, *, now: datetime | None = None
) -> Outcome:
    now = now or _utc_now()
    request = replace(request, text=strip_control_characters(request.text))  # the audit row's text too
    caller: Caller | None = None
    try:
        with sessions() as session:
            caller = (
                caller_for_email(session, config, request.email, request.slack_user_id, request.display_name)
                if request.email
                else None
            )
            if caller is None:
                outcome = Outcome(_plain(unknown_user_text(request.email)), "unknown_user")
            else:
                outcome = answer_as(session, config, caller, request, now)
    except Exception:  # noqa: BLE001 - the user gets a reference, the log gets the traceback
        reference = uuid.uuid4().hex[:8]
        log.exception("error %s answering %s %r for %s", reference, request.command, request.text, request.email)
        outcome = Outcome(
            _plain(f"Something went wrong; the error is logged (reference `{reference}`). Please try again later."),
            "error",
            caller=caller,
            extra={"reference": reference},
        )
    _audit(sessions, request, outcome, now)
    return outcome


def answer_as(session: Session, config: RevbotConfig, caller: Caller, request: Request, now: datetime) -> Outcome:
    """`request` answered for `caller` on `session` (parse → authorize → run) with no audit row:
    `answer` writes that; `bot.org_warm_up` computes ahead of a question nobody asked yet."""
    text, share = split_share(strip_control_characters(request.text))
    return _answer_for(session, config, caller, request, text, share, local_today(config.zone, now), now)


def _answer_for(
    session: Session,
    config: RevbotConfig,
    caller: Caller,
    request: Request,
    text: str,
    share: bool,
    today: date,
    now: datetime,
) -> Outcome:
    command = get_command(request.command_name)
    if command is None:
        return Outcome(_unknown_command(request.command_name), "unknown_command", caller=caller)
    if text.strip().lower() in HELP_WORDS and "help" not in command.subcommands:
        return Outcome(help_message(command), "help", caller=caller)
    try:
        args, subject = command.parse(text, ParseContext(session=session, config=config, caller=caller, today=today))
    except UsageError as problem:
        return Outcome(usage_message(command, str(problem)), "usage", caller=caller, extra={"reason": str(problem)})
    try:
        scope = access.authorize(session, config, caller, command.name, subject)
    except AccessDenied as refusal:
        return Outcome(_plain(escape_mrkdwn(str(refusal))), "refused", caller=caller, extra={"reason": str(refusal)})
    context = CommandContext(session=session, config=config, caller=caller, scope=scope, today=today, now=now)
    message = command.run(args, context)
    if not message.validated:  # a command that built its Message without `render`
        validate_blocks(message.blocks)
    outcome = Outcome(message, "answered", caller=caller, scope=scope, share_requested=share)
    if share:
        channel, refusal = share_target(session, config, command.name, scope, request.channel_id)
        outcome.share_channel, outcome.share_refusal = channel, refusal
    return outcome


def strip_control_characters(text: str) -> str:
    """Slack never sends NUL or other control characters, but a pasted string might; PostgreSQL
    refuses NUL in text, so they go before the text reaches a query or the audit log."""
    return CONTROL_CHARACTERS.sub("", text)


def split_share(text: str) -> tuple[str, bool]:
    """`/pipeline team emea share` → ("team emea", True). Only a trailing `share` counts, so a
    deal search for "market share expansion" keeps its words."""
    words = text.split()
    if words and words[-1].lower() == SHARE_WORD:
        return " ".join(words[:-1]), True
    return text.strip(), False


def share_target(
    session: Session, config: RevbotConfig, command: str, scope: Scope, channel_id: str | None
) -> tuple[str | None, str | None]:
    """(channel, None) when the channel's own scope allows this answer, else (None, why not).

    A team channel receives only that team's data; the leadership digest channel anything; the
    CS channel the customer-success commands; a DM with revbot is private anyway."""
    if not channel_id:
        return None, "There's no channel to share into from here."
    if channel_id.startswith("D"):
        return channel_id, None
    if channel_id == config.digests.monday.channel:
        return channel_id, None
    if channel_id == config.alerts.cs_channel and command in access.CS_ALWAYS:
        return channel_id, None
    team_id = _team_for_channel(session, config, channel_id)
    if team_id is None:
        return None, (
            "I only share into team channels and the leadership channel set in revbot.toml, "
            "so this answer stayed private."
        )
    members = access.team_member_ids(session, team_id)
    if scope.owner_ids is not None and scope.owner_ids <= members:
        return channel_id, None
    return None, "This is a team channel, and it only receives that team's data, so this answer stayed private."


def _team_for_channel(session: Session, config: RevbotConfig, channel_id: str) -> int | None:
    team_id = session.scalar(select(Team.id).where(Team.slack_channel_id == channel_id).limit(1))
    if team_id is not None:
        return team_id
    for team in config.teams:
        if team.channel == channel_id:
            return session.scalar(select(Team.id).where(Team.name == team.name))
    return None


# --- messages the dispatcher writes itself ---------------------------------------------------


def help_message(command: Command[Any]) -> Message:
    lines = [f"*{escape_mrkdwn(command.description)}*"]
    if command.help_text:
        lines.append(escape_mrkdwn(command.help_text))
    lines.append(f"Usage: `{escape_mrkdwn(command.usage())}`")
    examples = [f"`{escape_mrkdwn(f'{command.slash} {example}'.strip())}`" for example in command.examples]
    if examples:
        lines.append("Examples: " + ", ".join(examples))
    blocks = [header_block(command.slash), *section_blocks("\n".join(lines))]
    return Message(text=f"{command.slash}: {escape_mrkdwn(command.description)}", blocks=validate_blocks(blocks))


def usage_message(command: Command[Any], problem: str) -> Message:
    example = next((e for e in command.examples if e), command.examples[0] if command.examples else "")
    problem_text = escape_mrkdwn(problem.strip() or "I couldn't read that.")
    lines = [problem_text, f"Usage: `{escape_mrkdwn(command.usage())}`"]
    lines.append(f"Example: `{escape_mrkdwn(f'{command.slash} {example}'.strip())}`")
    blocks = [*section_blocks("\n".join(lines)), context_block(f"`{command.slash} help` explains every option.")]
    return Message(text=problem_text, blocks=validate_blocks(blocks))


def _unknown_command(name: str) -> Message:
    known = ", ".join(f"`{c.slash}`" for c in all_commands()) or "none yet"
    return _plain(f"I don't know `/{escape_mrkdwn(name)[:40]}`. Commands: {known}.")


def _plain(mrkdwn: str) -> Message:
    return Message(text=mrkdwn, blocks=validate_blocks(section_blocks(mrkdwn)))


def _audit(sessions: sessionmaker[Session], request: Request, outcome: Outcome, now: datetime) -> None:
    """One row per request. A failure to audit is logged, never shown: the answer already exists."""
    caller = outcome.caller
    reason = {
        "refused": outcome.extra.get("reason"),
        "unknown_user": f"unknown user {request.email or '(no email)'}",
        "unknown_command": "unknown command",
        "usage": f"usage: {outcome.extra.get('reason', '')}",
        "error": f"error {outcome.extra.get('reference', '')}",
    }.get(outcome.status)
    if outcome.share_refusal:
        reason = f"share refused: {outcome.share_refusal}"
    arguments = request.text if request.source == "slack" else f"{request.text} [{request.source}]".strip()
    try:
        with sessions() as session, session.begin():
            audit.record(
                session,
                action=f"/{request.command_name}",
                arguments=arguments,
                allowed=outcome.status not in ("refused", "unknown_user"),
                user_id=caller.user_id if caller else None,
                slack_user_id=request.slack_user_id,
                reason=reason,
                at=now,
            )
    except Exception:  # noqa: BLE001
        log.exception("could not write the audit row for %s %r", request.command, request.text)
