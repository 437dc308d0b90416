"""Posting a claimed message to Slack, and recording what happened on the claim.

What can go wrong, and what happens then:
- `not_in_channel`: the bot joins the (public) channel with `conversations.join` and posts again.
- 429 with Retry-After: slack_sdk's rate-limit handler waits and retries; if Slack is still
  limiting after that, this module waits `Retry-After` itself a few more times.
- `channel_not_found`, `invalid_auth`, `users_not_found`, anything else: the claim is marked
  `failed` with the error code, `revbot doctor` and `/revbot status` report it, and the next run
  re-takes the claim. Nothing is dropped silently.
- A crash after Slack accepted the message but before `mark_posted`: see `digests.claims`; every
  message carries its delivery key in `metadata`, and `find_posted` looks for it first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from commands.rendering import Message
from digests import claims
from digests.claims import DeliveryClaim

log = logging.getLogger(__name__)

METADATA_EVENT = "revbot_delivery"
EXTRA_RATE_LIMIT_RETRIES = 5


@dataclass(frozen=True)
class Chart:
    filename: str
    title: str
    png: bytes


@dataclass(frozen=True)
class Outcome:
    status: str  # posted | failed | skipped
    channel: str | None = None
    ts: str | None = None
    error: str | None = None


class DeliveryError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def error_code(exc: SlackApiError) -> str:
    response = exc.response
    try:
        return str(response.get("error") or f"http_{response.status_code}")
    except Exception:  # noqa: BLE001 - a malformed response still has to be recorded
        return str(exc)


def is_channel_id(recipient: str) -> bool:
    return recipient[:1] in ("C", "G", "D") and recipient.isalnum()


async def resolve_channel(client: AsyncWebClient, recipient: str) -> str:
    """A channel id as is; an email becomes the person's user id (a DM); a user id as is."""
    if "@" in recipient:
        try:
            response = await client.users_lookupByEmail(email=recipient)
        except SlackApiError as exc:
            raise DeliveryError(error_code(exc)) from None
        return str(response["user"]["id"])
    return recipient


async def post_message(
    client: AsyncWebClient,
    channel: str,
    message: Message,
    *,
    key: str | None = None,
    thread_ts: str | None = None,
) -> str:
    """chat.postMessage, joining the channel once when the bot is not in it. Returns the ts."""
    payload: dict[str, Any] = {"channel": channel, **message.to_slack()}
    if thread_ts:
        payload["thread_ts"] = thread_ts
    if key:
        payload["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"delivery_key": key}}
    joined = False
    rate_limited = 0
    while True:
        try:
            response = await client.chat_postMessage(**payload)
            return str(response["ts"])
        except SlackApiError as exc:
            code = error_code(exc)
            if code == "not_in_channel" and not joined:
                joined = True
                try:
                    await client.conversations_join(channel=channel)
                except SlackApiError as join_exc:
                    raise DeliveryError(f"not_in_channel ({error_code(join_exc)} on join)") from None
                continue
            if code == "ratelimited" and rate_limited < EXTRA_RATE_LIMIT_RETRIES:
                rate_limited += 1
                await asyncio.sleep(_retry_after(exc))
                continue
            raise DeliveryError(code) from None


def _retry_after(exc: SlackApiError) -> float:
    try:
        return float(exc.response.headers.get("Retry-After", [1])[0])
    except (TypeError, ValueError, IndexError, AttributeError):
        return 1.0


async def upload_chart(client: AsyncWebClient, channel: str, chart: Chart, *, thread_ts: str | None = None) -> None:
    kwargs: dict[str, Any] = {
        "channel": channel,
        "content": chart.png,
        "filename": chart.filename,
        "title": chart.title,
    }
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    await client.files_upload_v2(**kwargs)


async def find_posted(client: AsyncWebClient, channel: str, key: str, oldest: datetime | None) -> str | None:
    """The ts of a message already carrying this delivery key, if the channel history has one."""
    try:
        kwargs: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
        if oldest is not None:
            kwargs["oldest"] = f"{oldest.timestamp():.6f}"
        response = await client.conversations_history(**kwargs)
    except SlackApiError as exc:
        log.warning("could not read history of %s to check %s: %s", channel, key, error_code(exc))
        return None
    for item in response.get("messages") or []:
        metadata = item.get("metadata") or {}
        if metadata.get("event_type") == METADATA_EVENT and (metadata.get("event_payload") or {}).get(
            "delivery_key"
        ) == key:
            return str(item.get("ts"))
    return None


async def deliver(
    engine: Engine,
    client: AsyncWebClient,
    claim: DeliveryClaim,
    message: Message,
    *,
    charts: tuple[Chart, ...] = (),
    thread_ts: str | None = None,
) -> Outcome:
    """Post a claimed message (and its charts) and record the result on the claim."""
    try:
        channel = await resolve_channel(client, claim.recipient)
        if claim.was_in_flight:
            ts = await find_posted(client, channel, claim.key, oldest=None)
            if ts is not None:
                claims.mark_posted(engine, claim, ts)
                log.info("%s was already posted before a crash (ts %s); not posting again", claim.key, ts)
                return Outcome("posted", channel, ts)
        claims.begin_post(engine, claim)
        ts = await post_message(client, channel, message, key=claim.key, thread_ts=thread_ts)
    except DeliveryError as exc:
        claims.mark_failed(engine, claim, exc.code)
        log.error("delivery %s failed: %s (will retry on the next run)", claim.key, exc.code)
        return Outcome("failed", error=exc.code)
    claims.mark_posted(engine, claim, ts)
    for chart in charts:
        try:
            await upload_chart(client, channel, chart)
        except SlackApiError as exc:
            # The text says everything the chart shows; a missing image does not undo the post.
            log.warning("chart %s for %s not uploaded: %s", chart.filename, claim.key, error_code(exc))
    return Outcome("posted", channel, ts)
