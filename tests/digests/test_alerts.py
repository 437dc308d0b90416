"""Alerts: fire once per condition, again only when worse; batching, routing, recovery, buttons."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from bot.services import Services
from commands.rendering import validate_blocks
from digests.alerts.engine import run_alerts
from digests.alerts.messages import ACK, SNOOZE_7D
from storage.config import AlertRule, AlertsConfig, RevbotConfig
from storage.database import transaction
from storage.models import AlertEvent, Deal
from tests.bot.harness import SlackHarness
from tests.bot.org import FixtureOrg, seed_fixture_org
from tests.support.slack_api import SlackApiStandIn

SEEDED = date(2026, 11, 2)
MORNING = datetime(2026, 11, 2, 14, 0)  # naive UTC


def only(rule: str, **settings: object) -> RevbotConfig:
    """Config with one alert rule enabled, so each test watches one behaviour."""
    rules = {name: {"enabled": name == rule} for name in AlertsConfig().rules}
    rules[rule].update(settings)
    return RevbotConfig(alerts=AlertsConfig(rules=rules, cs_channel="C0CS"))


def alert_posts(api: SlackApiStandIn, channel: str) -> list[dict]:
    return [m for m in api.messages_to(channel) if not m.get("thread_ts")]


@pytest.fixture
def fixture_org(engine: Engine) -> FixtureOrg:
    return seed_fixture_org(engine, today=SEEDED)


async def test_condition_unchanged_for_30_days_alerts_once(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    config = only("low_coverage", below=2.0)
    for day in range(30):
        await run_alerts(engine, services.slack, config, now=MORNING + timedelta(days=day))

    # EMEA: 600K target − 75K won = 525K to go, 260K open → 0.5x; North America: 200K / 600K → 0.3x.
    assert len(slack_api.messages_to("C0EMEA")) == 1
    assert len(slack_api.messages_to("C0NAMER")) == 1
    assert "0.5x" in slack_api.messages_to("C0EMEA")[0]["text"]


async def test_worsening_condition_alerts_again(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    for first in ("dana", "omar", "priya"):
        slack_api.add_user(f"U0{first.upper()}", f"{first}@acme.test")
    config = only("stalled_deal", days=21)
    # Priya's only open deal was last touched Oct 31, 09:00: 21 days idle on day 19, 42 on day 40.
    for day in (0, 18, 19, 30, 39, 40, 45):
        await run_alerts(engine, services.slack, config, now=MORNING + timedelta(days=day))

    dms = slack_api.messages_to("U0PRIYA")
    assert [m["text"] for m in dms] == [
        "Stalled deal: Umbrella Rollout: no activity for 21 days",
        "Stalled deal: Umbrella Rollout: no activity for 42 days",
    ]
    assert "got worse" in str(dms[1]["blocks"])


async def test_owner_dm_is_found_by_email(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    for first in ("dana", "omar", "priya"):
        slack_api.add_user(f"U0{first.upper()}", f"{first}@acme.test")
    await run_alerts(engine, services.slack, only("overdue_close_date"), now=MORNING + timedelta(days=40))

    lookups = [c.params["email"] for c in slack_api.calls_to("users.lookupByEmail")]
    assert "dana@acme.test" in lookups
    assert {m["text"].split(": ")[1] for m in slack_api.messages_to("U0DANA")} == {
        "Globex Platform Deal", "Hooli Renewal 2026"}


async def test_many_alerts_to_one_channel_become_a_summary_with_a_thread(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    config = only("overdue_close_date", route="team")
    config = config.model_copy(update={"alerts": config.alerts.model_copy(update={"batch_threshold": 1})})
    await run_alerts(engine, services.slack, config, now=MORNING + timedelta(days=40))

    emea = slack_api.messages_to("C0EMEA")
    summary, details = emea[0], emea[1:]
    assert summary["text"] == "3 new alerts for this channel"
    assert len(details) == 3
    assert all(d.get("thread_ts") for d in details)


async def test_recovery_note_when_the_condition_clears(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    config = only("low_coverage", below=2.0)
    await run_alerts(engine, services.slack, config, now=MORNING)
    with transaction(engine) as session:  # North America books pipeline: 1.2M open against 600K to go
        deal = session.scalar(select(Deal).where(Deal.name == "Umbrella Rollout"))
        deal.amount = 1_200_000
    report = await run_alerts(engine, services.slack, config, now=MORNING + timedelta(hours=1))

    notes = [m for m in slack_api.messages_to("C0NAMER") if m.get("thread_ts")]
    assert [v.title.split(":")[0] for v in report.resolved] == ["North America"]
    assert len(notes) == 1 and notes[0]["text"].startswith("Resolved:")


async def test_every_alert_message_passes_block_kit_validation(
    services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    slack_api.add_user("U0DANA", "dana@acme.test")
    slack_api.add_user("U0OMAR", "omar@acme.test")
    slack_api.add_user("U0PRIYA", "priya@acme.test")
    config = RevbotConfig(alerts=AlertsConfig(cs_channel="C0CS", rules={"big_deal": AlertRule(route="team",
                                                                                                 min_amount=40_000,
                                                                                                 days=30)}))
    report = await run_alerts(engine, services.slack, config, now=MORNING + timedelta(days=45))

    posts = slack_api.calls_to("chat.postMessage")
    assert report.posted == len(posts) > 5
    for post in posts:
        validate_blocks(post.params["blocks"])


async def _press(slack: SlackHarness, api: SlackApiStandIn, action_id: str, alert: AlertEvent, user: str) -> dict:
    before = len(api.calls_to("chat.update"))
    result = await slack.action({
        "type": "block_actions",
        "user": {"id": user, "username": "mona", "team_id": "T0TEST"},
        "channel": {"id": alert.channel, "name": "emea"},
        "container": {"type": "message", "message_ts": alert.message_ts, "channel_id": alert.channel},
        "message": {"ts": alert.message_ts, "text": "alert"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": f"revbot_alert_{alert.id}",
                     "value": str(alert.id), "action_ts": "1700000000.1"}],
    })
    assert result.status == 200, result.text
    for _ in range(500):
        if len(api.calls_to("chat.update")) > before:
            break
        await asyncio.sleep(0.01)
    return api.calls_to("chat.update")[-1].params


def _alert(engine: Engine, channel: str) -> AlertEvent:
    with transaction(engine) as session:
        row = session.scalar(select(AlertEvent).where(AlertEvent.channel == channel))
        session.expunge(row)
        return row


async def test_acknowledge_button_updates_state_and_message(
    slack: SlackHarness, services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    await run_alerts(engine, services.slack, only("low_coverage"), now=MORNING)
    alert = _alert(engine, "C0EMEA")

    update = await _press(slack, slack_api, ACK, alert, "U0MONA")

    assert _alert(engine, "C0EMEA").state == "acknowledged"
    assert (update["channel"], update["ts"]) == ("C0EMEA", alert.message_ts)
    assert "Acknowledged by <@U0MONA>" in str(update["blocks"])
    labels = [e["text"]["text"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Acknowledge" not in labels


async def test_snooze_button_silences_until_the_snooze_ends(
    slack: SlackHarness, services: Services, slack_api: SlackApiStandIn, fixture_org: FixtureOrg, engine: Engine
) -> None:
    config = only("low_coverage")
    await run_alerts(engine, services.slack, config, now=MORNING)
    alert = _alert(engine, "C0EMEA")

    update = await _press(slack, slack_api, SNOOZE_7D, alert, "U0MONA")
    snoozed = _alert(engine, "C0EMEA")
    with transaction(engine) as session:  # EMEA loses pipeline: worse, but snoozed
        session.scalar(select(Deal).where(Deal.name == "Globex Platform Deal")).amount = 10_000
    snoozed_until = snoozed.snoozed_until
    await run_alerts(engine, services.slack, config, now=snoozed_until - timedelta(hours=1))
    quiet = len(slack_api.messages_to("C0EMEA"))
    await run_alerts(engine, services.slack, config, now=snoozed_until + timedelta(minutes=1))

    assert snoozed.state == "snoozed" and "Snoozed until" in str(update["blocks"])
    assert quiet == 1
    assert len(slack_api.messages_to("C0EMEA")) == 2
