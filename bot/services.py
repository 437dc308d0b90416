"""What listeners, the scheduler and CLI verbs share: one bundle, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.slack_client import make_web_client
from storage.config import RevbotConfig, load_config
from storage.database import make_engine, session_factory
from storage.settings import Settings, get_settings


@dataclass
class Services:
    settings: Settings
    config: RevbotConfig
    engine: Engine
    sessions: sessionmaker[Session]
    slack: AsyncWebClient

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        config: RevbotConfig | None = None,
        engine: Engine | None = None,
    ) -> Services:
        settings = settings or get_settings()
        config = config or load_config(settings.revbot_config)
        engine = engine or make_engine(settings.database_url)
        return cls(
            settings=settings,
            config=config,
            engine=engine,
            sessions=session_factory(engine),
            slack=make_web_client(settings),
        )
