"""Process environment (12-factor): where the database is, Slack credentials, config path."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def normalize_database_url(url: str) -> str:
    """Accept Heroku's `postgres://` and plain `postgresql://`; both mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = Field(default="sqlite:///revbot.db")
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    revbot_config: str = "revbot.toml"
    port: int = 3000
    # Worker processes that compute answers in `revbot serve` (`bot.answer_workers`); None: the default
    # there (2), 0: answer in threads of the bot process.
    revbot_answer_processes: int | None = Field(default=None, ge=0, le=64)

    @field_validator("database_url")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url and method name by plain concatenation.
        return value if value.endswith("/") else value + "/"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
