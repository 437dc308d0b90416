"""The Slack Web API client: base URL from SLACK_API_URL, retries from slack_sdk's handlers."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from storage.settings import Settings


def retry_handlers(max_retries: int = 5) -> list:
    """Rate limits honour Retry-After; 5xx and dropped connections back off and try again."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
        AsyncServerErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
    ]


def make_web_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=retry_handlers(),
        timeout=15,
    )
