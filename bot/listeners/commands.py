"""Slash commands: one listener answers every registered command. Each acks at once (Slack allows 3 s,
whatever the database is doing), then answers from a background task through the response URL,
ephemerally; `share` posts to the channel when the channel's scope allows it."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dispatch import Outcome, Request, dispatch
from bot.state import BotState
from commands.rendering import context_block, escape_mrkdwn

log = logging.getLogger(__name__)

ANY_COMMAND = re.compile(r"^/[\w.-]+$")


def register(app: AsyncApp, state: BotState) -> None:
    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        state.tasks.spawn(answer_command(state, command, respond, client), name=f"answer {command.get('command')}")

    # One listener for every slash command: the registry is looked up per request, so a command
    # configured in Slack but unknown here gets a friendly answer instead of an error.
    app.command(ANY_COMMAND)(on_command)


async def answer_command(
    state: BotState, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
) -> None:
    if command.get("response_url"):  # always, from Slack: reply over the bot's kept-alive session
        respond = partial(state.responses.send, command["response_url"])  # type: ignore[assignment]
    try:
        request = await request_from_command(state, command)
        services = state.services
        outcome = await dispatch(services.sessions, services.config, request, workers=state.workers)
        await deliver(outcome, respond, client)
    except Exception:  # noqa: BLE001 - the user must hear back even when Slack or the DB misbehaves
        log.exception("could not answer %s %r", command.get("command"), command.get("text"))
        await respond(text="Something went wrong; the error is logged. Please try again.", response_type="ephemeral")


async def request_from_command(state: BotState, command: dict[str, Any]) -> Request:
    slack_user_id = command.get("user_id") or ""
    profile = await state.directory.profile(slack_user_id) if slack_user_id else None
    return Request(
        command=command.get("command", ""),
        text=command.get("text", "") or "",
        email=profile.email if profile else None,
        slack_user_id=slack_user_id or None,
        channel_id=command.get("channel_id"),
        source="slack",
        display_name=profile.name if profile else "",
    )


async def deliver(outcome: Outcome, respond: Callable[..., Awaitable[Any]], client: AsyncWebClient) -> None:
    message = outcome.message.to_slack()
    if outcome.share_channel:
        if await post_to_channel(client, outcome.share_channel, message):
            await respond(text=f"Shared in <#{outcome.share_channel}>.", response_type="ephemeral")
            return
        outcome.share_refusal = "I couldn't post in this channel (is revbot invited?), so here it is privately."
    if outcome.share_refusal:
        message["blocks"] = [*message["blocks"][:49], context_block(escape_mrkdwn(outcome.share_refusal))][-50:]
    await respond(response_type="ephemeral", **message)


async def post_to_channel(client: AsyncWebClient, channel: str, message: dict[str, Any]) -> bool:
    """Post, joining a public channel first when revbot is not in it yet."""
    try:
        await client.chat_postMessage(channel=channel, **message)
        return True
    except SlackApiError as exc:
        if exc.response.get("error") != "not_in_channel":
            log.warning("sharing into %s failed: %s", channel, exc.response.get("error"))
            return False
    try:
        await client.conversations_join(channel=channel)
        await client.chat_postMessage(channel=channel, **message)
        return True
    except SlackApiError as exc:
        log.warning("sharing into %s failed after joining: %s", channel, exc.response.get("error"))
        return False
