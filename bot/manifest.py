"""The Slack app manifest, generated from the command registry so Slack's configuration can never
drift from what revbot answers. Paste the YAML into https://api.slack.com/apps → "From a manifest"."""

from __future__ import annotations

from typing import Any

import yaml

from commands.registry import all_commands

BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "channels:join",
    "im:write",
    "files:write",
    # Reading back the channel or DM after a crash between posting a digest and recording it, so the
    # delivery is not posted twice (`digests.delivery.find_posted`).
    "channels:history",
    "groups:history",
    "im:history",
)
BOT_EVENTS = ("app_home_opened",)
SLACK_DESCRIPTION_LIMIT = 2000
SLACK_USAGE_HINT_LIMIT = 1000


def build_manifest(*, socket_mode: bool = False, url: str | None = None, name: str = "revbot") -> dict[str, Any]:
    """The manifest as a dict. HTTP mode needs the public base URL (`https://revbot.example.com`);
    `/slack/events` is appended. Socket Mode needs no URL."""
    events_url = None if socket_mode else _events_url(url or "https://revbot.example.com")
    slash_commands = []
    for command in sorted(all_commands(), key=lambda c: c.name):
        entry: dict[str, Any] = {
            "command": command.slash,
            "description": command.description[:SLACK_DESCRIPTION_LIMIT],
            "should_escape": True,  # mentions arrive as <@U123|dana>, channels as <#C1|x>
        }
        if command.usage_hint:
            entry["usage_hint"] = command.usage_hint[:SLACK_USAGE_HINT_LIMIT]
        if events_url:
            entry["url"] = events_url
        slash_commands.append(entry)
    interactivity: dict[str, Any] = {"is_enabled": True}
    event_subscriptions: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    if events_url:
        interactivity["request_url"] = events_url
        event_subscriptions["request_url"] = events_url
    return {
        "display_information": {
            "name": name,
            "description": "Your revenue team's analyst: pipeline, targets, forecast, retention, digests and alerts.",
            "background_color": "#1d3b53",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": True},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": slash_commands,
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": event_subscriptions,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(*, socket_mode: bool = False, url: str | None = None) -> str:
    return yaml.safe_dump(build_manifest(socket_mode=socket_mode, url=url), sort_keys=False, allow_unicode=True,
                          width=120)


def _events_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/slack/events") else f"{base}/slack/events"
