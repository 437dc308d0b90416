"""A deal named like a Slack control sequence reaches Slack inert: no ping, no link."""

from __future__ import annotations

from datetime import datetime

import pytest

from commands.registry import get_command
from storage.database import transaction
from storage.models import Deal

HOSTILE = "<!channel> <@U0EVIL> <https://evil.example|click> & co"


@pytest.fixture
def hostile_deal(engine, org):
    with transaction(engine) as session:
        session.add(Deal(name=HOSTILE, owner_id=org["dana"].id, amount=10_000, stage="Proposal",
                         created_at=datetime(2026, 1, 5), close_date=org.today, is_closed=False))
    return HOSTILE


@pytest.mark.parametrize("command, text", [("/probe", ""), ("/deal", "evil")])
async def test_a_hostile_deal_name_is_escaped_in_every_reply(slack, org, probe, hostile_deal, command, text):
    if get_command(command) is None:
        pytest.skip(f"{command} is not built yet")
    reply = await slack.command(command, text, user=org["dana"])
    mrkdwn = [b["text"]["text"] for b in reply.blocks if b.get("type") == "section"]
    assert any("&lt;!channel&gt;" in t for t in mrkdwn), reply.plain
    for text_ in [reply.text, *mrkdwn]:
        assert "<!channel>" not in text_ and "<@U0EVIL>" not in text_ and "<https://evil" not in text_
