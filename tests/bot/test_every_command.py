"""Every registered command, whatever it is given, answers: a reply or a usage message, never a
traceback, and every reply passes Slack's Block Kit validation."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dispatch import Request, answer
from commands.registry import all_commands
from commands.rendering import validate_blocks
from storage.database import session_factory

ACCEPTABLE = {"answered", "help", "usage", "refused"}
WORDS = st.sampled_from([
    "team", "emea", "north", "america", "all", "me", "@dana", "<@U123|dana>", "<@UNOPE>", "<!channel>", "<#C1|x>",
    "this", "next", "quarter", "month", "Q3", "2026-Q3", "FY2026", "ytd", "segment", "account", "Globex",
    "share", "help", "30", "-5", "99999999999999999999", "acme", "'", '"', "%", "_", "\\", "*", "&amp;", "ü",
])
ARGUMENTS = st.one_of(
    st.lists(WORDS, max_size=5).map(" ".join),
    st.text(max_size=60),
)


def _names() -> list[str]:
    return sorted(c.name for c in all_commands())


@pytest.mark.parametrize("command", _names())
def test_generated_arguments_always_get_an_answer_or_a_usage_message(engine, config, org, command):
    sessions = session_factory(engine)
    now = datetime.combine(org.today, time(14, 0))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=ARGUMENTS, who=st.sampled_from(["dana", "mona", "erin", "carla"]))
    def check(text: str, who: str) -> None:
        outcome = answer(sessions, config, Request(f"/{command}", text, org[who].email, source="cli"), now=now)
        assert outcome.status in ACCEPTABLE, (text, who, outcome.message.text)
        assert outcome.message.text
        validate_blocks(outcome.message.blocks)

    check()


@pytest.mark.parametrize("command", _names())
@pytest.mark.parametrize("who", ["dana", "mona", "erin", "carla"])
async def test_every_example_over_http_passes_block_kit_validation(slack, org, command, who):
    examples = next(c for c in all_commands() if c.name == command).examples or ("",)
    for example in examples:
        reply = await slack.command(f"/{command}", example, user=org[who])
        assert not reply.text.startswith("Something went wrong"), (command, example, who)
        validate_blocks(reply.blocks)
        assert reply.response_type == "ephemeral"
