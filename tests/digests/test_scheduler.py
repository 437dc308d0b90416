"""The scheduler: cron jobs from config, one Monday digest per week across two processes,
catch-up within the grace window, stale data held."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine

from bot.services import Services
from digests.runner import run_digest
from digests.schedule import DigestScheduler, cron_trigger, last_fire_time
from storage.config import DigestSchedule, RevbotConfig
from storage.database import make_engine
from tests.bot.org import seed_fixture_org
from tests.digests.conftest import make_services
from tests.digests.helpers import ADMIN, LEADERSHIP, deliveries, digest_config, record_sync
from tests.support.slack_api import SlackApiStandIn

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def config() -> RevbotConfig:
    return digest_config(charts=False)  # charts have their own test; here they would only cost time


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def test_jobs_are_built_from_config_in_the_configured_zone(services: Services) -> None:
    scheduler = DigestScheduler(services.engine, services.slack, services.config).build()
    jobs = {job.id: job for job in scheduler.get_jobs()}

    assert set(jobs) == {"digest_monday", "digest_team", "alerts"}  # rep_daily is off by default
    monday = jobs["digest_monday"].trigger
    assert str(monday.timezone) == "America/New_York"
    fields = {f.name: str(f) for f in monday.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "8", "0")
    assert jobs["alerts"].trigger.interval == timedelta(minutes=30)


def test_next_monday_digest_is_at_eight_local_across_the_dst_change(config: RevbotConfig) -> None:
    trigger = cron_trigger(config, "monday")
    before = trigger.get_next_fire_time(None, local(2026, 10, 20, 9))  # → Mon Oct 26
    after = trigger.get_next_fire_time(None, local(2026, 11, 3, 9))
    assert before.astimezone(UTC).hour == 12  # EDT
    assert after.astimezone(UTC).hour == 13  # EST


def test_last_fire_time_finds_the_most_recent_scheduled_time(config: RevbotConfig) -> None:
    fire = last_fire_time(cron_trigger(config, "monday"), local(2026, 11, 25, 10), lookback=timedelta(days=8))
    assert fire == local(2026, 11, 23, 8)


async def test_two_schedulers_post_exactly_one_monday_digest_per_week_for_12_weeks(
    slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig, database_url: str
) -> None:
    first_monday = date(2026, 9, 28)  # twelve Mondays across the end of daylight saving time
    config = config.model_copy(update={"digests": config.digests.model_copy(
        update={"team": DigestSchedule(enabled=False, cron="0 8 * * mon")})})
    seed_fixture_org(engine, today=first_monday)
    other_engine = make_engine(database_url)  # a second process: its own engine and client
    a = make_services(slack_api, engine, config, database_url)
    b = make_services(slack_api, other_engine, config, database_url)
    scheduler_a = DigestScheduler(a.engine, a.slack, config)
    scheduler_b = DigestScheduler(b.engine, b.slack, config)
    try:
        for week in range(12):
            day = first_monday + timedelta(weeks=week)
            fire = local(day.year, day.month, day.day, 8).astimezone(UTC)
            with time_machine.travel(fire - timedelta(hours=3), tick=False):
                record_sync(engine, datetime.now(UTC).replace(tzinfo=None))
            with time_machine.travel(fire + timedelta(seconds=1), tick=True):
                await asyncio.gather(scheduler_a.run_scheduled("monday"), scheduler_b.run_scheduled("monday"))
            with time_machine.travel(fire + timedelta(hours=1), tick=True):
                await scheduler_b.catch_up()  # b restarts an hour later
    finally:
        other_engine.dispose()

    posted = deliveries(engine, "digest_monday")
    assert len(slack_api.messages_to(LEADERSHIP)) == 12
    assert [d.period_key for d in posted] == [f"2026-W{w}" for w in range(40, 52)]
    assert {d.status for d in posted} == {"posted"}


async def test_digest_missed_during_downtime_is_posted_late_within_the_grace_window(
    services: Services, slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig
) -> None:
    seed_fixture_org(engine, today=date(2026, 11, 23))
    scheduler = DigestScheduler(engine, services.slack, config)
    started = local(2026, 11, 23, 12).astimezone(UTC)  # four hours late, grace is six
    record_sync(engine, started.replace(tzinfo=None) - timedelta(hours=2))

    reports = await scheduler.catch_up(now=started.replace(tzinfo=None))

    assert [r.name for r in reports if r.posted] == ["monday", "team"]
    assert len(slack_api.messages_to(LEADERSHIP)) == 1
    assert deliveries(engine, "digest_monday")[0].period_key == "2026-W48"


async def test_digest_missed_beyond_the_grace_window_is_skipped_and_logged(
    services: Services, slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_fixture_org(engine, today=date(2026, 11, 23))
    scheduler = DigestScheduler(engine, services.slack, config)
    started = local(2026, 11, 23, 15).astimezone(UTC).replace(tzinfo=None)  # seven hours late
    record_sync(engine, started - timedelta(hours=1))

    with caplog.at_level(logging.WARNING, logger="digests.schedule"):
        reports = await scheduler.catch_up(now=started)

    assert reports == [] and slack_api.messages_to(LEADERSHIP) == []
    assert "beyond the 6h grace window: skipped for leadership" in caplog.text


async def test_stale_data_holds_the_digest_and_tells_the_admin_once(
    services: Services, slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig
) -> None:
    seed_fixture_org(engine, today=date(2026, 11, 23))
    now = local(2026, 11, 23, 8).astimezone(UTC).replace(tzinfo=None)
    record_sync(engine, now - timedelta(days=30))
    with time_machine.travel(now.replace(tzinfo=UTC) + timedelta(seconds=1), tick=False):
        from storage.database import transaction
        from storage.models import SyncRun

        with transaction(engine) as session:  # the fixture org's own sync is "now"; make it old too
            for run in session.query(SyncRun).all():
                run.finished_at = now - timedelta(days=30)

    first = await run_digest(engine, services.slack, config, "monday", now=now)
    second = await run_digest(engine, services.slack, config, "monday", now=now + timedelta(minutes=30))
    record_sync(engine, now + timedelta(hours=1))
    third = await run_digest(engine, services.slack, config, "monday", now=now + timedelta(hours=1, minutes=5))

    assert first.held and "more than 36 hours ago" in first.held
    assert second.held and slack_api.messages_to(LEADERSHIP)[:1] == slack_api.messages_to(LEADERSHIP)
    assert len(slack_api.messages_to(ADMIN)) == 1
    assert "held" in slack_api.messages_to(ADMIN)[0]["text"]
    assert third.posted == ["leadership"]
