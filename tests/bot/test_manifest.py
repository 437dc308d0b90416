"""`revbot manifest`: generated from the registry, so Slack's config matches what revbot answers."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.manifest import BOT_SCOPES, build_manifest
from commands.registry import all_commands


def test_every_registered_command_is_in_the_manifest_with_should_escape():
    manifest = build_manifest(url="https://revbot.example.com")
    entries = {entry["command"]: entry for entry in manifest["features"]["slash_commands"]}
    assert set(entries) == {command.slash for command in all_commands()}
    for command in all_commands():
        entry = entries[command.slash]
        assert entry["should_escape"] is True
        assert entry["description"] == command.description
        assert entry.get("usage_hint", "") == command.usage_hint
        assert entry["url"] == "https://revbot.example.com/slack/events"


def test_http_mode_points_events_and_interactivity_at_slack_events():
    settings = build_manifest(url="https://revbot.example.com/")["settings"]
    assert settings["event_subscriptions"] == {
        "bot_events": ["app_home_opened"],
        "request_url": "https://revbot.example.com/slack/events",
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": "https://revbot.example.com/slack/events"}
    assert settings["socket_mode_enabled"] is False


def test_socket_mode_needs_no_urls():
    manifest = build_manifest(socket_mode=True)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert all("url" not in entry for entry in manifest["features"]["slash_commands"])


def test_the_cli_prints_yaml_with_scopes_and_app_home():
    result = CliRunner().invoke(app, ["manifest", "--socket"])
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_the_cli_refuses_a_plain_http_url():
    result = CliRunner().invoke(app, ["manifest", "--url", "http://revbot.example.com"])
    assert result.exit_code == 2
    assert "must start with https://" in result.output
