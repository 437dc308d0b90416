"""Socket Mode: no public URL; revbot opens a WebSocket to Slack with the app-level token
(SLACK_APP_TOKEN, `xapp-…`). Same app, same listeners as HTTP mode."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.background import until_stopped
from bot.slack_client import close_connections, keep_connections
from bot.state import BotState


async def serve_socket_mode(app: AsyncApp, state: BotState, app_token: str) -> None:
    handler = AsyncSocketModeHandler(app, app_token)
    await keep_connections(state.services.slack)
    try:
        await handler.connect_async()
        await until_stopped()
    finally:
        await state.tasks.drain(timeout=10)
        await state.responses.close()
        await close_connections(state.services.slack)
        await handler.close_async()
