"""End-to-end command tests: Slack-signed slash commands over HTTP to the real bot, against the bot
harness's fixture org (tests/bot/org.py). This folder's `org` is that org, not tests/commands'."""

from tests.bot.fixtures import *  # noqa: F403
