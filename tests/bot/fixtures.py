"""Fixtures for tests that talk to the bot over HTTP. tests/bot/conftest.py imports them; other
test folders use them the same way: `from tests.bot.fixtures import *  # noqa: F403`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine

from commands.registry import Command
from storage.config import RevbotConfig
from tests.bot.harness import SlackHarness, start_bot
from tests.bot.org import FixtureOrg, seed_fixture_org
from tests.bot.probe import probe_registered
from tests.support.slack_api import SlackApiStandIn

__all__ = ["org", "probe", "slack"]


@pytest.fixture
def org(engine: Engine) -> FixtureOrg:
    """The small fixture org (tests/bot/org.py) seeded into this test's database."""
    return seed_fixture_org(engine)


@pytest.fixture
async def slack(
    slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig, database_url: str
) -> AsyncIterator[SlackHarness]:
    """The real bot over real HTTP on loopback, talking to the Slack stand-in. Change
    `slack.services.config` to try other settings; it is read per request."""
    harness, runner = await start_bot(slack_api, engine, config, database_url)
    async with harness:
        yield harness
    await runner.cleanup()


@pytest.fixture
def probe() -> Iterator[Command[str]]:
    """Registers the test-only `/probe` command (tests/bot/probe.py) for one test."""
    with probe_registered() as command:
        yield command
