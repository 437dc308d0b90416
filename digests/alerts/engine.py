"""One alert evaluation: rules → decisions → `alert_events` → Slack.

Two scheduler processes may evaluate at the same moment. Each state change that leads to a post
is a compare-and-set on the `alert_events` row (insert-if-absent for new fingerprints, update
where `last_fired_at` is still what we read), so exactly one process wins each firing; the post
itself then goes through a delivery claim like a digest, so a failed post is recorded and retried
on the next run instead of being lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from jinja2 import Environment
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commands.rendering import format_datetime
from digests import claims, delivery
from digests.alerts import inputs as alert_inputs
from digests.alerts.messages import AlertView, render_alert, render_recovery, render_summary
from digests.alerts.rules import AlertCandidate, evaluate
from digests.alerts.state import Decision, Previous, decide, wants_recovery_note
from digests.templates import digest_environment
from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.database import session_factory, transaction
from storage.freshness import utcnow
from storage.models import AlertEvent, Deal, Delivery, Team, User

log = logging.getLogger(__name__)

ALERT_KIND = "alert"
SUMMARY_KIND = "alert_summary"
RECOVERY_KIND = "alert_recovery"


@dataclass(frozen=True)
class Planned:
    candidate: AlertCandidate | None
    fingerprint: str
    decision: Decision
    previous_id: int | None = None


@dataclass
class EvaluationReport:
    candidates: int = 0
    fired: list[AlertView] = field(default_factory=list)
    resolved: list[AlertView] = field(default_factory=list)
    steady: int = 0
    posted: int = 0
    failed: list[str] = field(default_factory=list)
    plan: list[Planned] = field(default_factory=list)


def _previous(row: AlertEvent) -> Previous:
    return Previous(state=row.state, severity=row.severity, last_fired_at=row.last_fired_at,
                    snoozed_until=row.snoozed_until, posted=row.message_ts is not None)


def plan(session: Session, config: RevbotConfig, *, now: datetime, today: date) -> list[Planned]:
    """What this run would do, without changing anything (`revbot alerts check`, the demo)."""
    candidates = evaluate(alert_inputs.gather(session, config, now=now, today=today), config)
    by_fp = {c.fingerprint: c for c in candidates}
    # Every known condition (resolved ones too: a recurrence within the cooldown stays quiet). An
    # IN list of fingerprints would break SQLite's parameter limit on a big org.
    rows = {r.fingerprint: r for r in session.scalars(select(AlertEvent))}
    cooldown = timedelta(hours=config.alerts.cooldown_hours)
    planned = []
    for fp in list(by_fp) + [fp for fp in rows if fp not in by_fp]:
        row = rows.get(fp)
        rule_cooldown = by_fp[fp].rule if fp in by_fp else None
        if rule_cooldown and config.alerts.rules[rule_cooldown].cooldown_hours is not None:
            cooldown_for = timedelta(hours=config.alerts.rules[rule_cooldown].cooldown_hours or 0)
        else:
            cooldown_for = cooldown
        decision = decide(_previous(row) if row else None, by_fp.get(fp), now=now, cooldown=cooldown_for)
        planned.append(Planned(by_fp.get(fp), fp, decision, row.id if row else None))
    return planned


def view_of(row: AlertEvent, config: RevbotConfig, crm_url: str | None = None) -> AlertView:
    details = dict(row.details or {})
    return AlertView(
        id=row.id, rule=row.rule, title=row.title or row.rule, subject_type=row.subject_type, state=row.state,
        details=details, crm_url=crm_url or details.get("crm_url"), acknowledged_by=row.acknowledged_by,
        snoozed_until_label=format_datetime(row.snoozed_until, config.zone) if row.snoozed_until else None,
    )


def _insert(engine: Engine):  # type: ignore[no-untyped-def]
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def _apply(engine: Engine, config: RevbotConfig, planned: list[Planned], now: datetime
           ) -> tuple[list[tuple[int, str]], list[int], int]:
    """Write decisions; return (fired event ids with reason, resolved ids needing a note, steady)."""
    fired: list[tuple[int, str]] = []
    recoveries: list[int] = []
    steady = 0
    insert = _insert(engine)
    with transaction(engine) as session:
        touched = [p.previous_id for p in planned if p.decision.action == "touch" and p.previous_id]
        if touched:
            for chunk in _chunks(touched, 500):
                session.execute(update(AlertEvent).where(AlertEvent.id.in_(chunk)).values(last_seen_at=now)
                                .execution_options(synchronize_session=False))
        steady = len(touched)
        for item in planned:
            action, candidate = item.decision.action, item.candidate
            if action == "fire" and candidate is not None:
                values = _values(candidate, now)
                if item.previous_id is None:
                    stmt = insert(AlertEvent).values(fingerprint=candidate.fingerprint, first_seen_at=now, **values)
                    # RETURNING tells whether this process inserted the row (rowcount is -1 on psycopg).
                    new_id = session.scalar(
                        stmt.on_conflict_do_nothing(index_elements=["fingerprint"]).returning(AlertEvent.id)
                    )
                    if new_id is not None:
                        fired.append((int(new_id), item.decision.reason))
                else:
                    row = session.get(AlertEvent, item.previous_id)
                    guard = (AlertEvent.last_fired_at.is_(None) if row.last_fired_at is None
                             else AlertEvent.last_fired_at == row.last_fired_at)
                    result = session.execute(
                        update(AlertEvent).where(AlertEvent.id == row.id, guard)
                        .values(**values, message_ts=None, channel=None, acknowledged_by=None, snoozed_until=None,
                                resolved_at=None)
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount == 1:
                        fired.append((row.id, item.decision.reason))
            elif action == "resolve" and item.previous_id is not None:
                row = session.get(AlertEvent, item.previous_id)
                if row is None or row.state == "resolved":
                    continue
                note = wants_recovery_note(row.rule, _previous(row), config.alerts.send_recovery)
                result = session.execute(
                    update(AlertEvent).where(AlertEvent.id == row.id, AlertEvent.state == row.state)
                    .values(state="resolved", resolved_at=now).execution_options(synchronize_session=False)
                )
                if result.rowcount == 1 and note:
                    recoveries.append(row.id)
    return fired, recoveries, steady


def _values(candidate: AlertCandidate, now: datetime) -> dict:
    details = dict(candidate.details)
    if candidate.crm_url:
        details["crm_url"] = candidate.crm_url
    if candidate.owner_id is not None:
        details["owner_id"] = candidate.owner_id
    if candidate.team_id is not None:
        details["team_id"] = candidate.team_id
    return dict(rule=candidate.rule, subject_type=candidate.subject_type, subject_id=candidate.subject_id,
                severity=candidate.severity, state="open", title=candidate.title[:1000], details=details,
                route=candidate.route, last_seen_at=now, last_fired_at=now)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- routing ---------------------------------------------------------------------------------


def recipient_for(session: Session, config: RevbotConfig, row: AlertEvent) -> str | None:
    """Where an alert goes: the owner's DM (Slack id, else email for users.lookupByEmail), the
    team's channel, or the CS channel; the admin channel when the route has nowhere to go."""
    details = row.details or {}
    if row.route == "owner":
        owner_id = details.get("owner_id")
        if owner_id is None and row.subject_type == "deal":
            owner_id = session.scalar(select(Deal.owner_id).where(Deal.id == row.subject_id))
        user = session.get(User, owner_id) if owner_id is not None else None
        if user is not None and (user.slack_user_id or user.email):
            return user.slack_user_id or user.email
    elif row.route == "team":
        team_id = details.get("team_id")
        channel = _team_channel(session, config, team_id)
        if channel:
            return channel
    elif row.route == "cs" and config.alerts.cs_channel:
        return config.alerts.cs_channel
    return config.digests.admin_channel


def _team_channel(session: Session, config: RevbotConfig, team_id: int | None) -> str | None:
    if team_id is None:
        return None
    team = session.get(Team, team_id)
    if team is None:
        return None
    if team.slack_channel_id:
        return team.slack_channel_id
    configured = next((t for t in config.teams if t.name.casefold() == team.name.casefold()), None)
    return configured.channel if configured else None


# --- posting ---------------------------------------------------------------------------------


async def run_alerts(engine: Engine, client: AsyncWebClient | None, config: RevbotConfig, *,
                     now: datetime | None = None, post: bool = True, env: Environment | None = None
                     ) -> EvaluationReport:
    """Evaluate every rule and (with `post`) update state and send what fired."""
    now = now or utcnow()
    today = local_today(config.zone, now)
    env = env or digest_environment(config)
    with session_factory(engine)() as session:
        planned = plan(session, config, now=now, today=today)
    report = EvaluationReport(candidates=sum(1 for p in planned if p.candidate is not None), plan=planned)
    if not post:
        return report
    fired, recoveries, report.steady = _apply(engine, config, planned, now)
    assert client is not None
    await _post_fired(engine, client, config, env, fired, now, report)
    await _post_recoveries(engine, client, config, env, recoveries, now, report)
    await retry_failed(engine, client, config, env, now, report)
    return report


def _load_rows(engine: Engine, ids: list[int]) -> list[AlertEvent]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(AlertEvent).where(AlertEvent.id.in_(ids)).order_by(AlertEvent.id)))


async def _post_fired(engine: Engine, client: AsyncWebClient, config: RevbotConfig, env: Environment,
                      fired: list[tuple[int, str]], now: datetime, report: EvaluationReport) -> None:
    if not fired:
        return
    reasons = dict(fired)
    rows = _load_rows(engine, list(reasons))
    by_recipient: dict[str | None, list[AlertEvent]] = defaultdict(list)
    with session_factory(engine)() as session:
        for row in rows:
            by_recipient[recipient_for(session, config, row)].append(row)
    stamp = f"{now:%Y%m%dT%H%M%S}"
    for recipient, group in by_recipient.items():
        report.fired.extend(view_of(r, config) for r in group)
        if recipient is None:
            for row in group:
                _record_unroutable(engine, row, stamp)
                report.failed.append(f"alert {row.id}: no channel for route {row.route}")
            continue
        thread_ts = None
        if len(group) > config.alerts.batch_threshold:
            summary_claim = claims.claim(engine, SUMMARY_KIND, recipient, stamp, now=now)
            if summary_claim is not None:
                where = "you" if not delivery.is_channel_id(recipient) else "this channel"
                summary = render_summary(env, [view_of(r, config) for r in group], where)
                outcome = await delivery.deliver(engine, client, summary_claim, summary)
                thread_ts = outcome.ts
        for row in group:
            await _post_one(engine, client, config, env, row, recipient, f"{row.id}@{stamp}", reasons[row.id],
                            report, thread_ts=thread_ts, now=now)


async def _post_one(engine: Engine, client: AsyncWebClient, config: RevbotConfig, env: Environment,
                    row: AlertEvent, recipient: str, period_key: str, reason: str, report: EvaluationReport,
                    *, thread_ts: str | None, now: datetime) -> None:
    claim = claims.claim(engine, ALERT_KIND, recipient, period_key, now=now)
    if claim is None:
        return
    message = render_alert(env, view_of(row, config), reason=reason, currency=config.reporting_currency)
    outcome = await delivery.deliver(engine, client, claim, message, thread_ts=thread_ts)
    if outcome.status == "posted":
        report.posted += 1
        with transaction(engine) as session:
            session.execute(update(AlertEvent).where(AlertEvent.id == row.id)
                            .values(channel=outcome.channel, message_ts=outcome.ts)
                            .execution_options(synchronize_session=False))
    else:
        report.failed.append(f"alert {row.id} to {recipient}: {outcome.error}")


def _record_unroutable(engine: Engine, row: AlertEvent, stamp: str) -> None:
    claim = claims.claim(engine, ALERT_KIND, "unrouted", f"{row.id}@{stamp}")
    if claim is not None:
        claims.mark_failed(engine, claim, f"no channel for route {row.route!r}: set alerts.cs_channel, the team "
                                          "channel or digests.admin_channel in revbot.toml")


async def _post_recoveries(engine: Engine, client: AsyncWebClient, config: RevbotConfig, env: Environment,
                           ids: list[int], now: datetime, report: EvaluationReport) -> None:
    for row in _load_rows(engine, ids) if ids else []:
        report.resolved.append(view_of(row, config))
        if not row.channel or not row.message_ts:
            continue
        claim = claims.claim(engine, RECOVERY_KIND, row.channel, f"{row.id}@{now:%Y%m%dT%H%M%S}", now=now)
        if claim is None:
            continue
        outcome = await delivery.deliver(engine, client, claim, render_recovery(env, view_of(row, config)),
                                         thread_ts=row.message_ts)
        if outcome.status == "posted":
            report.posted += 1


async def retry_failed(engine: Engine, client: AsyncWebClient, config: RevbotConfig, env: Environment,
                       now: datetime, report: EvaluationReport) -> None:
    """Alerts whose post failed on an earlier run go out now (if the alert is still open)."""
    with session_factory(engine)() as session:
        failed = list(session.scalars(select(Delivery).where(Delivery.kind == ALERT_KIND,
                                                             Delivery.status == "failed",
                                                             Delivery.recipient != "unrouted")))
    for item in failed:
        if item.claimed_at >= now:
            continue  # failed in this very run; the next run retries it
        event_id = int(item.period_key.split("@", 1)[0])
        rows = _load_rows(engine, [event_id])
        if not rows or rows[0].state != "open":
            continue
        await _post_one(engine, client, config, env, rows[0], item.recipient, item.period_key, "", report,
                        thread_ts=None, now=now)
