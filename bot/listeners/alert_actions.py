"""Alert buttons (acknowledge, snooze): owned by the digests/alerts work; registers nothing yet."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    """Adds no listener until alert actions are built."""
