"""Digest and alert fixtures: Services wired to the Slack stand-in, plus the bot fixtures
(`org`, `slack`) from tests/bot."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.services import Services
from bot.slack_client import make_web_client
from storage.config import RevbotConfig
from storage.settings import Settings
from tests.bot.fixtures import *  # noqa: F403
from tests.support.slack_api import SlackApiStandIn


def make_services(slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig, database_url: str) -> Services:
    settings = Settings(database_url=database_url, slack_bot_token="xoxb-test", slack_api_url=slack_api.api_url,
                        revbot_config="/nonexistent/revbot.toml")
    services = Services.build(settings=settings, config=config, engine=engine)
    services.slack = make_web_client(settings)
    return services


@pytest.fixture
def services(slack_api: SlackApiStandIn, engine: Engine, config: RevbotConfig, database_url: str) -> Services:
    return make_services(slack_api, engine, config, database_url)
