"""Wiring: one `register(app, ...)` per kind of listener, so app.py stays short."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import alert_actions, commands, home
from bot.services import Services
from bot.state import BotState


def register_listeners(app: AsyncApp, services: Services) -> BotState:
    state = BotState.build(services)
    commands.register(app, state)
    home.register(app, state)
    alert_actions.register(app, services)
    return state
