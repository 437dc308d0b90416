"""The slack-bolt AsyncApp: credentials from Settings, our retrying Web API client, listeners."""

from __future__ import annotations

import sys

from slack_bolt.async_app import AsyncApp

from bot.listeners import register_listeners
from bot.services import Services
from bot.state import BotState

ACK_FRIENDLY_SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


class MissingCredentials(RuntimeError):
    """SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET are not set; the message says which."""


def build_app(services: Services, *, socket_mode: bool = False) -> tuple[AsyncApp, BotState]:
    settings = services.settings
    missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),) if not value]
    if not socket_mode and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    if socket_mode and not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN")
    if missing:
        raise MissingCredentials(f"set {' and '.join(missing)} (see docs/slack-app.md)")
    # Answers compute in worker threads; a short GIL switch interval lets the event loop (acks,
    # health checks) get the interpreter back within a fraction of a millisecond.
    sys.setswitchinterval(ACK_FRIENDLY_SWITCH_INTERVAL)
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        client=services.slack,  # carries SLACK_BOT_TOKEN, SLACK_API_URL and the retry handlers
        # Bolt acks as soon as a listener calls ack(); the answer continues in the background.
        process_before_response=False,
    )
    state = register_listeners(app, services)
    return app, state
