"""Posting digests: crashes, rate limits and Slack errors never lose or duplicate a message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.services import Services
from commands.rendering import Message
from digests import claims, delivery
from digests.runner import run_digest
from storage.freshness import utcnow
from tests.bot.org import FixtureOrg
from tests.digests.helpers import LEADERSHIP, deliveries, digest_config
from tests.support.slack_api import SlackApiStandIn


@pytest.fixture
def config():  # type: ignore[no-untyped-def]
    return digest_config()


async def test_crash_between_claim_and_post_is_recovered_once(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    now = utcnow()
    crashed = claims.claim(engine, "digest_monday", LEADERSHIP, "2026-W48", now=now, worker="crashed-worker")
    assert crashed is not None

    soon = await run_digest(engine, services.slack, services.config, "monday", now=now + timedelta(minutes=2))
    late = await run_digest(engine, services.slack, services.config, "monday", now=now + timedelta(minutes=15))
    again = await run_digest(engine, services.slack, services.config, "monday", now=now + timedelta(minutes=30))

    assert (soon.posted, late.posted, again.posted) == ([], ["leadership"], [])
    assert len(slack_api.messages_to(LEADERSHIP)) == 1
    assert [d.status for d in deliveries(engine, "digest_monday")] == ["posted"]


async def test_crash_after_slack_accepted_the_post_does_not_post_twice(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in has no history; give it one built from what was really posted, metadata included.
    answer = slack_api._answer

    def with_history(method: str, params: dict) -> dict:
        if method == "conversations.history":
            sent = [{"ts": f"1700000000.{i:06d}", "metadata": m.get("metadata")}
                    for i, m in enumerate(slack_api.messages_to(params["channel"]), start=1)]
            return {"ok": True, "messages": sent}
        return answer(method, params)

    monkeypatch.setattr(slack_api, "_answer", with_history)
    now = utcnow()
    crashed = claims.claim(engine, "digest_monday", LEADERSHIP, "2026-W48", now=now, worker="crashed-worker")
    claims.begin_post(engine, crashed, now=now)
    await delivery.post_message(services.slack, LEADERSHIP, Message(text="Monday digest"), key=crashed.key)
    # ...and the process died before mark_posted.

    report = await run_digest(engine, services.slack, services.config, "monday", now=now + timedelta(minutes=15))

    assert report.posted == ["leadership"]
    assert len(slack_api.messages_to(LEADERSHIP)) == 1
    assert deliveries(engine, "digest_monday")[0].message_ts == "1700000000.000001"


async def test_storm_of_429s_ends_with_every_message_delivered_once(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    slack_api.fail("chat.postMessage", "ratelimited", status=429, retry_after=0, times=7)

    monday = await run_digest(engine, services.slack, services.config, "monday")
    team = await run_digest(engine, services.slack, services.config, "team")

    assert monday.posted == ["leadership"] and sorted(team.posted) == ["EMEA", "North America"]
    # 7 answered 429, 3 accepted: one per channel.
    assert len(slack_api.calls_to("chat.postMessage")) == 3 + 7
    assert {d.status for d in deliveries(engine)} == {"posted"}
    assert len({d.message_ts for d in deliveries(engine)}) == 3


async def test_not_in_channel_joins_and_posts(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    slack_api.fail("chat.postMessage", "not_in_channel")

    report = await run_digest(engine, services.slack, services.config, "monday")

    assert report.posted == ["leadership"]
    assert LEADERSHIP in slack_api.channels_joined
    assert deliveries(engine, "digest_monday")[0].status == "posted"


async def test_channel_not_found_is_recorded_and_retried_on_the_next_run(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    slack_api.fail("chat.postMessage", "channel_not_found")

    first = await run_digest(engine, services.slack, services.config, "monday")
    recorded = deliveries(engine, "digest_monday")[0]
    second = await run_digest(engine, services.slack, services.config, "monday")

    assert first.failed == ["leadership: channel_not_found"]
    assert (recorded.status, recorded.error) == ("failed", "channel_not_found")
    assert second.posted == ["leadership"]
    assert deliveries(engine, "digest_monday")[0].status == "posted"


async def test_invalid_auth_is_recorded_for_doctor_and_status(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    slack_api.fail("chat.postMessage", "invalid_auth")

    await run_digest(engine, services.slack, services.config, "monday")

    assert [(d.recipient, d.error) for d in claims.failed_deliveries(engine)] == [(LEADERSHIP, "invalid_auth")]


async def test_digest_chart_is_uploaded_into_the_same_channel(
    services: Services, slack_api: SlackApiStandIn, org: FixtureOrg, engine: Engine
) -> None:
    await run_digest(engine, services.slack, services.config, "monday")

    completes = slack_api.calls_to("files.completeUploadExternal")
    assert {c.params.get("channel_id") for c in completes} == {LEADERSHIP}
    assert all(png.startswith(b"\x89PNG") for png in slack_api.uploads.values())
