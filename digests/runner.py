"""Running a digest: who gets it, what it says, and posting it exactly once per period.

`prepare` builds the messages (for `--preview`, the demo and the scheduler alike); `run_digest`
claims each (digest, recipient, period) before building its message, so a second scheduler or a
restart never posts twice and never even computes a digest it will not send. Data staler than
`freshness.stale_after_hours` holds the digest (the claim is marked `held`, retried by the next
run) and tells the admin channel why, once per digest and period.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from jinja2 import Environment
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from commands.rendering import Message, format_datetime, render
from digests import charts, claims, delivery
from digests.delivery import Chart
from digests.monday import build_monday
from digests.rep_daily import build_rep_daily, opted_in_reps
from digests.team import build_team, team_members, team_recipients
from digests.templates import digest_environment
from digests.weekly import load_weekly_org
from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.database import session_factory
from storage.freshness import data_freshness, utcnow

log = logging.getLogger(__name__)

DigestName = Literal["monday", "team", "rep_daily"]
DIGEST_NAMES: tuple[DigestName, ...] = ("monday", "team", "rep_daily")
HELD_KIND = "digest_held"


def normalize_name(name: str) -> DigestName:
    cleaned = name.strip().lower().replace("-", "_")
    if cleaned not in DIGEST_NAMES:
        raise ValueError(f"unknown digest {name!r}; choose monday, team or rep-daily")
    return cleaned  # type: ignore[return-value]


def period_key(name: DigestName, local_day: date) -> str:
    """Weekly digests are keyed by ISO week, the rep DM by day: a late or manual post of the
    same period collides with the scheduled one."""
    if name == "rep_daily":
        return local_day.isoformat()
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Recipient:
    kind: str  # deliveries.kind: digest_monday, digest_team, digest_rep_daily
    address: str | None  # channel id, or an email for a DM
    label: str
    ref: object = None  # the team or user the message is built for


@dataclass(frozen=True)
class Prepared:
    recipient: Recipient
    message: Message
    charts: tuple[Chart, ...] = ()


@dataclass
class RunReport:
    name: str
    period_key: str
    posted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already posted or claimed elsewhere
    failed: list[str] = field(default_factory=list)
    held: str | None = None


def recipients(session: Session, config: RevbotConfig, name: DigestName) -> list[Recipient]:
    kind = f"digest_{name}"
    if name == "monday":
        return [Recipient(kind, config.digests.monday.channel or config.digests.admin_channel, "leadership")]
    if name == "team":
        return [Recipient(kind, team.channel, team.name, team) for team in team_recipients(session, config)
                if team.channel]
    return [Recipient(kind, user.slack_user_id or user.email, user.name, user)
            for user in opted_in_reps(session, config) if user.slack_user_id or user.email]


def build_message(session: Session, config: RevbotConfig, env: Environment, name: DigestName, recipient: Recipient,
                  *, today: date, as_of: datetime | None, with_charts: bool = True,
                  shared: dict[str, Any] | None = None) -> Prepared:
    """`shared`: a dict kept across one run's recipients, so the team digests load the org's deals
    once and each takes its slice (`digests.weekly.team_slice`) instead of one load per team."""
    as_of_text = format_datetime(as_of, config.zone) if as_of else "never synced"
    if name == "rep_daily":
        rep = build_rep_daily(session, config, recipient.ref, today=today)  # type: ignore[arg-type]
        message = render(env, "rep_daily.j2", fallback=f"Your deals today: {len(rep.closing_soon)} closing soon, "
                         f"{len(rep.stalled)} stalled, {len(rep.overdue)} overdue", digest=rep, as_of=as_of_text)
        return Prepared(recipient, message)
    retention = None
    if name == "monday":
        monday = build_monday(session, config, today=today, concurrent=True)
        weekly, retention = monday.weekly, monday.retention
    else:
        if shared is not None and "org" not in shared:
            org = load_weekly_org(session, config, today=today, concurrent=True)
            shared["org"], shared["members"] = org, team_members(session)
        weekly = build_team(session, config, recipient.ref, today=today,  # type: ignore[arg-type]
                            org=shared["org"] if shared else None, members=shared["members"] if shared else None)
    attainment = weekly.attainment
    fallback = f"{weekly.title}: bookings {attainment.closed_won:,.0f} {weekly.currency} QTD"
    message = render(env, "weekly.j2", fallback=fallback, digest=weekly, retention=retention, as_of=as_of_text)
    pictures: tuple[Chart, ...] = ()
    if with_charts:
        slug = recipient.label.lower().replace(" ", "-")
        pictures = (
            Chart(f"bookings-vs-target-{slug}.png", f"Bookings vs target ({recipient.label})",
                  charts.bookings_vs_target_png(weekly)),
            Chart(f"pipeline-bridge-{slug}.png", f"Pipeline movement ({recipient.label})",
                  charts.pipeline_bridge_png(weekly)),
        )
    return Prepared(recipient, message, pictures)


def prepare(engine: Engine, config: RevbotConfig, name: DigestName, *, today: date | None = None,
            with_charts: bool = True) -> Iterator[Prepared]:
    """Every message of one digest, built without claiming anything (previews)."""
    today = today or local_today(config.zone)
    env = digest_environment(config)
    with session_factory(engine)() as session:
        as_of = data_freshness(session, stale_after_hours=config.freshness.stale_after_hours).as_of
        shared: dict[str, Any] = {}
        for recipient in recipients(session, config, name):
            yield build_message(session, config, env, name, recipient, today=today, as_of=as_of,
                                with_charts=with_charts, shared=shared)


async def run_digest(engine: Engine, client: AsyncWebClient, config: RevbotConfig, name: DigestName, *,
                     now: datetime | None = None, period_day: date | None = None) -> RunReport:
    """Post one digest to every recipient that has not had it for this period.

    `period_day` is the local date of the scheduled run (a late catch-up posts for the day it
    was due); the digest's numbers are computed for today."""
    now = now or utcnow()
    today = local_today(config.zone, now)
    key = period_key(name, period_day or today)
    report = RunReport(name, key)
    env = digest_environment(config)
    session_maker = session_factory(engine)
    with session_maker() as session:
        freshness = data_freshness(session, stale_after_hours=config.freshness.stale_after_hours, now=now)
        targets = recipients(session, config, name)
    if not targets:
        report.failed.append(_no_recipient(config, name))
        return report
    shared: dict[str, Any] = {}
    for recipient in targets:
        if recipient.address is None:
            report.failed.append(f"{recipient.label}: no channel configured")
            continue
        claim = claims.claim(engine, recipient.kind, recipient.address, key, now=now)
        if claim is None:
            report.skipped.append(recipient.label)
            continue
        if freshness.stale:
            reason = _stale_reason(freshness.as_of, config)
            claims.mark_held(engine, claim, reason)
            report.held = reason
            continue
        try:
            with session_maker() as session:
                prepared = build_message(session, config, env, name, recipient, today=today, as_of=freshness.as_of,
                                         with_charts=config.digests.charts, shared=shared)
        except Exception as exc:  # noqa: BLE001 - recorded on the claim and retried, never lost
            log.exception("building %s for %s failed", name, recipient.label)
            claims.mark_failed(engine, claim, f"could not build the digest: {exc}")
            report.failed.append(f"{recipient.label}: {exc}")
            continue
        outcome = await delivery.deliver(engine, client, claim, prepared.message, charts=prepared.charts)
        if outcome.status == "posted":
            report.posted.append(recipient.label)
        else:
            report.failed.append(f"{recipient.label}: {outcome.error}")
    if report.held:
        await _tell_admin(engine, client, config, env, name, key, report.held, now)
    return report


def _no_recipient(config: RevbotConfig, name: DigestName) -> str:
    if name == "monday":
        return "digests.monday.channel is not set in revbot.toml"
    if name == "team":
        return "no team has a channel (teams.slack_channel_id or [[teams]] channel in revbot.toml)"
    return "nobody opted in (digests.rep_daily_opt_in) or they have no email"


def _stale_reason(as_of: datetime | None, config: RevbotConfig) -> str:
    limit = config.freshness.stale_after_hours
    if as_of is None:
        return "No CRM data has been synced yet, so there is nothing trustworthy to report."
    return (f"The last successful CRM sync was {format_datetime(as_of, config.zone)}, more than {limit:g} hours "
            "ago, so the numbers would be stale. Check `revbot doctor` and the sync job.")


async def _tell_admin(engine: Engine, client: AsyncWebClient, config: RevbotConfig, env: Environment,
                      name: DigestName, key: str, reason: str, now: datetime) -> None:
    channel = config.digests.admin_channel
    if not channel:
        log.error("%s digest for %s held (%s) and digests.admin_channel is not set", name, key, reason)
        return
    claim = claims.claim(engine, HELD_KIND, channel, f"{name}:{key}", now=now)
    if claim is None:
        return
    message = render(env, "digest_held.j2", fallback=f"The {name} digest is held: data is stale",
                     digest=name.replace("_", "-"), period=key, reason=reason, grace_hours=config.digests.grace_hours)
    await delivery.deliver(engine, client, claim, message)
