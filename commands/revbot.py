"""`/revbot help|status|whoami|subscribe|alerts`: the bot talking about itself.

- help: every registered command with its usage (from the registry, so it is never out of date).
- status: data freshness, the last run of each sync source, and recent failures (syncs and
  deliveries) so an admin sees at a glance why a digest did not arrive.
- whoami: the caller's role and what that role lets them see.
- subscribe: which digests reach the caller and how to change that.
- alerts: open alerts about deals, accounts and teams within the caller's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commands import reply
from commands.arguments import normalize, take_share, unescape_slack
from commands.registry import (
    Command,
    CommandContext,
    ParseContext,
    Subject,
    UsageError,
    all_commands,
    register,
)
from commands.rendering import Message, Mrkdwn
from storage.models import Account, AlertEvent, Deal, Delivery, SyncRun, Team, User
from storage.scope import Scope

Topic = Literal["help", "status", "whoami", "subscribe", "alerts"]
TOPICS: tuple[Topic, ...] = ("help", "status", "whoami", "subscribe", "alerts")
FAILURE_WINDOW = timedelta(days=7)
ROLE_SCOPES = {
    "rep": "your own deals and accounts",
    "manager": "your team and everyone who reports to you",
    "exec": "everything: every team, rep, account and deal",
    "revops": "everything: every team, rep, account and deal, plus the bot's health",
    "cs": "accounts, renewals, retention and customer health",
}


@dataclass(frozen=True)
class RevbotArgs:
    topic: Topic


def parse(text: str, ctx: ParseContext) -> tuple[RevbotArgs, Subject]:
    rest, _share = take_share(text)
    word = normalize(rest).casefold() or "help"
    if word not in TOPICS:
        asked = unescape_slack(normalize(rest))[:40]
        raise UsageError(f"I don't know `/revbot {asked}`; try one of {', '.join(TOPICS)}")
    subject = Subject("self", ctx.caller.user_id, "you") if word == "alerts" else Subject("none")
    return RevbotArgs(topic=word), subject  # type: ignore[arg-type]


def run(args: RevbotArgs, ctx: CommandContext) -> Message:
    return {
        "help": _help,
        "status": _status,
        "whoami": _whoami,
        "subscribe": _subscribe,
        "alerts": _alerts,
    }[args.topic](ctx)


# --- help -------------------------------------------------------------------------------------


def _help(ctx: CommandContext) -> Message:
    commands = sorted(all_commands(), key=lambda c: (c.name == "revbot", c.name))
    return reply.answer(ctx, "revbot_help.j2", fallback="revbot commands", commands=commands)


# --- status -----------------------------------------------------------------------------------


def _status(ctx: CommandContext) -> Message:
    since = ctx.now - FAILURE_WINDOW
    return reply.answer(
        ctx,
        "revbot_status.j2",
        fallback="revbot status",
        last_runs=last_sync_runs(ctx.session),
        sync_failures=list(
            ctx.session.scalars(
                select(SyncRun)
                .where(SyncRun.status == "failed", SyncRun.started_at >= since)
                .order_by(SyncRun.started_at.desc())
                .limit(reply.LIST_LIMIT)
            )
        ),
        delivery_failures=list(
            ctx.session.scalars(
                select(Delivery)
                .where(Delivery.status == "failed", Delivery.claimed_at >= since)
                .order_by(Delivery.claimed_at.desc())
                .limit(reply.LIST_LIMIT)
            )
        ),
    )


def last_sync_runs(session: Session) -> list[SyncRun]:
    """The newest run of each source, newest first."""
    newest = select(SyncRun.source, func.max(SyncRun.id).label("id")).group_by(SyncRun.source).subquery()
    return list(
        session.scalars(select(SyncRun).join(newest, SyncRun.id == newest.c.id).order_by(SyncRun.started_at.desc()))
    )


# --- whoami -----------------------------------------------------------------------------------


def _whoami(ctx: CommandContext) -> Message:
    caller = ctx.caller
    team = ctx.session.get(Team, caller.team_id) if caller.team_id is not None else None
    amounts = caller.role != "cs" or ctx.config.access.cs_can_see_amounts
    return reply.answer(
        ctx,
        "revbot_whoami.j2",
        fallback=f"You are {caller.name} ({caller.role})",
        caller=caller,
        team_name=team.name if team else None,
        sees=ROLE_SCOPES.get(caller.role, "nothing yet"),
        sees_amounts=amounts,
    )


# --- subscribe --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    name: str
    schedule: str
    where: str  # trusted mrkdwn: a channel reference or "a DM"
    on: bool


def _subscribe(ctx: CommandContext) -> Message:
    digests = ctx.config.digests
    caller = ctx.caller
    team = ctx.session.get(Team, caller.team_id) if caller.team_id is not None else None
    team_channel = (team.slack_channel_id if team else None) or _configured_team_channel(ctx, team)
    opted_in = caller.email.lower() in digests.rep_daily_opt_in
    lines = [
        DigestLine(
            "Monday leadership digest",
            digests.monday.cron,
            channel_ref(digests.monday.channel),
            digests.monday.enabled and caller.role in ("exec", "revops", "manager"),
        ),
        DigestLine(
            f"Weekly team digest{f' ({team.name})' if team else ''}",
            digests.team.cron,
            channel_ref(team_channel),
            digests.team.enabled and team_channel is not None,
        ),
        DigestLine(
            "Daily DM: deals closing soon, stalled, overdue",
            digests.rep_daily.cron,
            Mrkdwn("a DM to you"),
            digests.rep_daily.enabled and opted_in,
        ),
    ]
    return reply.answer(
        ctx,
        "revbot_subscribe.j2",
        fallback="Your digest subscriptions",
        lines=lines,
        opted_in=opted_in,
        rep_daily_enabled=digests.rep_daily.enabled,
        email=caller.email,
        zone_name=ctx.config.timezone,
    )


def _configured_team_channel(ctx: CommandContext, team: Team | None) -> str | None:
    if team is None:
        return None
    return next((t.channel for t in ctx.config.teams if t.name.casefold() == team.name.casefold()), None)


def channel_ref(channel_id: str | None) -> Mrkdwn:
    """A channel link for ids from config or the database (ids only, never user text)."""
    if channel_id and channel_id.isalnum():
        return Mrkdwn(f"<#{channel_id}>")
    return Mrkdwn("no channel configured")


# --- alerts -----------------------------------------------------------------------------------


def _alerts(ctx: CommandContext) -> Message:
    visible = open_alerts_in_scope(ctx.session, ctx.scope)
    return reply.answer(ctx, "revbot_alerts.j2", fallback=f"{len(visible)} open alerts", alerts=visible)


def open_alerts_in_scope(session: Session, scope: Scope, limit: int = 200) -> list[AlertEvent]:
    """Open (not acknowledged, snoozed or resolved) alerts whose subject is within `scope`.

    Without deal amounts (customer success) only account alerts show: the others are about deals.
    """
    alerts = list(
        session.scalars(
            select(AlertEvent)
            .where(AlertEvent.state == "open")
            .order_by(AlertEvent.severity.desc().nulls_last(), AlertEvent.last_seen_at.desc())
            .limit(limit)
        )
    )
    if not scope.show_amounts:
        alerts = [a for a in alerts if a.subject_type == "account"]
    if scope.is_everyone:
        return alerts
    return [a for a in alerts if _alert_in_scope(session, scope, a)]


def _alert_in_scope(session: Session, scope: Scope, alert: AlertEvent) -> bool:
    if alert.subject_id is None:
        return False
    if alert.subject_type == "deal":
        return scope.includes_owner(session.scalar(select(Deal.owner_id).where(Deal.id == alert.subject_id)))
    if alert.subject_type == "account":
        return scope.includes_owner(session.scalar(select(Account.owner_id).where(Account.id == alert.subject_id)))
    if alert.subject_type == "team":
        if scope.team_ids is not None:
            return alert.subject_id in scope.team_ids
        members = set(session.scalars(select(User.id).where(User.team_id == alert.subject_id)))
        return bool(members) and all(scope.includes_owner(m) for m in members)
    return False


COMMAND = register(
    Command(
        name="revbot",
        description="About revbot: help, data freshness, who you are, your digests, open alerts",
        usage_hint="help|status|whoami|subscribe|alerts",
        examples=("help", "status", "whoami", "subscribe", "alerts"),
        parse=parse,
        run=run,
        help_text=(
            "• `help` lists every command.\n"
            "• `status` shows when data was last synced and anything that failed recently.\n"
            "• `whoami` shows your role and what you can see.\n"
            "• `subscribe` shows the digests you get and how to change them.\n"
            "• `alerts` lists open alerts about your deals, accounts and team."
        ),
        subcommands=TOPICS,
    )
)
