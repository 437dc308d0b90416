"""Alert buttons: Acknowledge, Snooze 1 day / 7 days, Open in CRM.

Pressing one changes the alert's state (digests.alerts.actions) and edits the alert message in
place with `chat.update`, so the channel shows who acknowledged it or until when it is snoozed.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from digests.alerts import actions
from digests.alerts.engine import view_of
from digests.alerts.messages import ACK, OPEN_CRM, SNOOZE_1D, SNOOZE_7D, SNOOZE_DAYS, render_alert
from digests.templates import digest_environment

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    async def on_alert_button(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await handle_alert_button(services, body, client)

    async def on_open_crm(ack: Any) -> None:
        await ack()  # the button is a link; Slack opens it, revbot only acknowledges the click

    for action_id in (ACK, SNOOZE_1D, SNOOZE_7D):
        app.action(action_id)(on_alert_button)
    app.action(OPEN_CRM)(on_open_crm)


async def handle_alert_button(services: Services, body: dict[str, Any], client: AsyncWebClient) -> None:
    action = (body.get("actions") or [{}])[0]
    user = str((body.get("user") or {}).get("id", ""))
    try:
        alert_id = int(action.get("value", ""))
    except ValueError:
        log.warning("alert button with a bad value %r", action.get("value"))
        return
    action_id = action.get("action_id")
    if action_id == ACK:
        row = actions.acknowledge(services.engine, alert_id, by=user)
    else:
        row = actions.snooze(services.engine, alert_id, days=SNOOZE_DAYS[action_id], by=user)
    if row is None:
        return
    config = services.config
    message = render_alert(digest_environment(config), view_of(row, config), currency=config.reporting_currency)
    channel = (body.get("channel") or {}).get("id") or row.channel
    ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts") or row.message_ts
    if not channel or not ts:
        return
    try:
        await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        log.warning("could not update alert %s message: %s", alert_id, exc.response.get("error"))
