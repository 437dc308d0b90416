"""The Slack Web API client: base URL from SLACK_API_URL, retries from slack_sdk's handlers."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from storage.settings import Settings

log = logging.getLogger(__name__)


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


async def keep_connections(client: AsyncWebClient) -> None:
    """Give the client one kept-alive HTTP session for the life of the bot. Without one, slack_sdk
    opens a new session (TLS context and connection) per call; a burst of first-time users, each
    needing `users.info`, then costs the bot a connection set-up each. Call from the running loop."""
    if client.session is None or client.session.closed:
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))


async def close_connections(client: AsyncWebClient) -> None:
    if client.session is not None:
        await client.session.close()
        client.session = None


class ResponseUrls:
    """Replies to slash commands through their `response_url`, over one kept-alive HTTP session.

    Bolt's `respond()` builds a new HTTP session, and so a new (TLS) connection, for every reply;
    under a burst of commands that is most of the bot's own work. Retries as the Web API client."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, **message: Any) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        client = AsyncWebhookClient(url=url, session=self._session, retry_handlers=retry_handlers())
        response = await client.send_dict(message)
        if response.status_code >= 400:
            log.warning("response_url answered %s: %s", response.status_code, response.body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
