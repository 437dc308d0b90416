"""App Home: when someone opens revbot's Home tab, publish their dashboard (attainment,
pipeline and the deals that need attention; renewals and retention for customer success),
built from the same commands and the same access rules as the slash commands."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.dispatch import Outcome, Request, dispatch
from bot.identity import caller_for_email, unknown_user_text
from bot.services import Services
from bot.state import BotState
from commands.registry import Caller, get_command
from commands.rendering import context_block, header_block, section_blocks

log = logging.getLogger(__name__)

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab view
DASHBOARDS: dict[str, tuple[str, ...]] = {
    "cs": ("renewals", "retention"),
    "rep": ("target", "pipeline"),
    "manager": ("target", "pipeline"),
    "exec": ("target", "pipeline", "renewals"),
    "revops": ("target", "pipeline", "renewals"),
}


def register(app: AsyncApp, state: BotState) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        state.tasks.spawn(publish_home(state, client, event["user"]), name=f"home {event['user']}")


async def publish_home(state: BotState, client: AsyncWebClient, slack_user_id: str) -> dict[str, Any]:
    view = await home_view(state, slack_user_id)
    await client.views_publish(user_id=slack_user_id, view=view)
    return view


async def home_view(state: BotState, slack_user_id: str) -> dict[str, Any]:
    services = state.services
    profile = await state.directory.profile(slack_user_id)
    email = profile.email if profile else None
    caller = await asyncio.to_thread(_caller, services, email, slack_user_id)
    if caller is None:
        return _view([header_block("Welcome to revbot"), *section_blocks(unknown_user_text(email))])
    outcomes: list[Outcome] = []
    for command in DASHBOARDS.get(caller.role, DASHBOARDS["rep"]):
        if get_command(command) is None:
            continue
        request = _request(command, "", email, slack_user_id)
        outcome = await dispatch(services.sessions, services.config, request, workers=state.workers)
        if outcome.status == "answered":
            outcomes.append(outcome)
    return _view(dashboard_blocks(caller.name, outcomes))


def dashboard_blocks(name: str, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [header_block(f"{name}'s dashboard")]
    if not outcomes:
        blocks.extend(section_blocks("Nothing to show yet: once your CRM data is synced, your numbers appear here."))
    for outcome in outcomes:
        blocks.append({"type": "divider"})
        blocks.extend(outcome.message.blocks)
    blocks.append(context_block("Ask anything with `/pipeline`, `/target`, `/deal NAME` or `/revbot help`."))
    if len(blocks) > MAX_HOME_BLOCKS:
        blocks = [*blocks[: MAX_HOME_BLOCKS - 1], context_block("…more in the slash commands")]
    return blocks


def _caller(services: Services, email: str | None, slack_user_id: str) -> Caller | None:
    if not email:
        return None
    with services.sessions() as session:
        return caller_for_email(session, services.config, email, slack_user_id)


def _request(command: str, text: str, email: str | None, slack_user_id: str) -> Request:
    return Request(command=command, text=text, email=email, slack_user_id=slack_user_id, source="home")


def _view(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}
