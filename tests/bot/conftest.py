"""Bot fixtures: `slack` (the bot over HTTP + Slack stand-in) and `org` (the fixture org)."""

from tests.bot.fixtures import *  # noqa: F403
