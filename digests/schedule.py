"""The scheduler process: digests on cron in the configured zone, alerts and CRM syncs on intervals.

APScheduler's jobs live in memory, one copy per process; the database decides what is actually
posted (see `digests.claims`). That is also what makes catch-up safe: on start, and on every
alert tick, each digest whose most recent scheduled time lies within `digests.grace_hours` is
simply run again for that period. If it went out already the claim says so and nothing happens;
if it was missed (downtime), held (stale data) or failed, it goes out now. A missed digest older
than the grace window is skipped and logged, never posted days late.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from digests import claims
from digests.alerts.engine import run_alerts
from digests.runner import DIGEST_NAMES, DigestName, RunReport, period_key, recipients, run_digest
from storage.config import DigestSchedule, RevbotConfig
from storage.database import session_factory
from storage.freshness import utcnow

log = logging.getLogger(__name__)

SyncFunction = Callable[[], Awaitable[object]]


def digest_schedule(config: RevbotConfig, name: DigestName) -> DigestSchedule:
    return getattr(config.digests, name)


def cron_trigger(config: RevbotConfig, name: DigestName) -> CronTrigger:
    return CronTrigger.from_crontab(digest_schedule(config, name).cron, timezone=config.zone)


def last_fire_time(trigger: CronTrigger, now: datetime, *, lookback: timedelta) -> datetime | None:
    """The latest scheduled time in (now - lookback, now], aware in the trigger's zone."""
    aware_now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    cursor = aware_now - lookback
    latest = None
    while True:
        fire = trigger.get_next_fire_time(latest, cursor if latest is None else latest + timedelta(seconds=1))
        if fire is None or fire > aware_now:
            return latest
        latest = fire


@dataclass
class DigestScheduler:
    """The jobs one scheduler process runs; each job function can also be called directly."""

    engine: Engine
    client: AsyncWebClient
    config: RevbotConfig
    syncs: dict[str, SyncFunction] | None = None

    async def run_scheduled(self, name: DigestName, *, now: datetime | None = None) -> RunReport:
        """The cron job: post the digest for the period of its scheduled time."""
        now = now or utcnow()
        trigger = cron_trigger(self.config, name)
        fire = last_fire_time(trigger, now, lookback=timedelta(days=8))
        day = fire.astimezone(self.config.zone).date() if fire else None
        report = await run_digest(self.engine, self.client, self.config, name, now=now, period_day=day)
        _log_report(report)
        return report

    async def catch_up(self, *, now: datetime | None = None) -> list[RunReport]:
        """Post digests missed (or held, or failed) within the grace window; log older misses."""
        now = now or utcnow()
        grace = timedelta(hours=self.config.digests.grace_hours)
        reports = []
        for name in DIGEST_NAMES:
            schedule = digest_schedule(self.config, name)
            if not schedule.enabled:
                continue
            trigger = cron_trigger(self.config, name)
            fire = last_fire_time(trigger, now, lookback=timedelta(days=8))
            if fire is None:
                continue
            late = (now.replace(tzinfo=UTC) if now.tzinfo is None else now) - fire
            day = fire.astimezone(self.config.zone).date()
            if late <= grace:
                report = await run_digest(self.engine, self.client, self.config, name, now=now, period_day=day)
                _log_report(report)
                reports.append(report)
            else:
                self._log_missed(name, period_key(name, day), fire, late)
        return reports

    def _log_missed(self, name: DigestName, key: str, fire: datetime, late: timedelta) -> None:
        with session_factory(self.engine)() as session:
            targets = recipients(session, self.config, name)
        missing = [r.label for r in targets if r.address
                   and claims.delivery_status(self.engine, r.kind, r.address, key) != "posted"]
        if missing:
            log.warning("%s digest for %s (due %s) was missed by %s, beyond the %sh grace window: skipped for %s",
                        name, key, fire.isoformat(), late, self.config.digests.grace_hours, ", ".join(missing))

    async def evaluate_alerts(self, *, now: datetime | None = None) -> None:
        report = await run_alerts(self.engine, self.client, self.config, now=now)
        log.info("alerts: %d conditions, %d fired, %d resolved, %d posted, %d failed", report.candidates,
                 len(report.fired), len(report.resolved), report.posted, len(report.failed))

    async def alert_tick(self) -> None:
        """Alert interval job; also retries digests still pending within their grace window."""
        await self.catch_up()
        await self.evaluate_alerts()

    async def sync(self, source: str) -> None:
        if not self.syncs or source not in self.syncs:
            return
        try:
            await self.syncs[source]()
        except Exception:  # noqa: BLE001 - a failed sync is recorded in sync_runs by the connector
            log.exception("%s sync failed", source)
            return
        await self.evaluate_alerts()  # fresh data: evaluate alerts right after each sync

    def build(self) -> AsyncIOScheduler:
        """An AsyncIOScheduler with one job per enabled digest, the alert interval and the syncs."""
        scheduler = AsyncIOScheduler(timezone=self.config.zone)
        grace_seconds = int(self.config.digests.grace_hours * 3600) or None
        for name in DIGEST_NAMES:
            if digest_schedule(self.config, name).enabled:
                scheduler.add_job(self.run_scheduled, cron_trigger(self.config, name), args=[name],
                                  id=f"digest_{name}", coalesce=True, misfire_grace_time=grace_seconds,
                                  max_instances=1)
        scheduler.add_job(self.alert_tick, IntervalTrigger(minutes=self.config.alerts.interval_minutes,
                                                           timezone=self.config.zone),
                          id="alerts", coalesce=True, max_instances=1)
        for source in sorted(self.syncs or {}):
            scheduler.add_job(self.sync, IntervalTrigger(minutes=self.config.crm.sync_interval_minutes,
                                                         timezone=self.config.zone),
                              args=[source], id=f"sync_{source}", coalesce=True, max_instances=1)
        return scheduler


def _log_report(report: RunReport) -> None:
    if report.posted:
        log.info("%s %s posted to %s", report.name, report.period_key, ", ".join(report.posted))
    if report.held:
        log.warning("%s %s held: %s", report.name, report.period_key, report.held)
    for failure in report.failed:
        log.error("%s %s failed: %s", report.name, report.period_key, failure)
