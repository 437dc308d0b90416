"""/funnel against the hand-built org, everyone's deals, Q2 2026.

Closed in Q2: deal 4 won ($80,000), deal 6 lost ($30,000): win rate 50% by count, 80/110 = 73% by
value. Cycle of deal 4: Feb 1 → Apr 15 = 73 days. Velocity = 5 open × 0.5 × 80,000 / 73 = $2,740/day.
"""

from __future__ import annotations

import pytest

from commands.registry import UsageError
from tests.commands.conftest import Ask, text_of


def test_parse_period_only(ask: Ask) -> None:
    assert ask.parse("funnel", "last quarter")[0].period.key == "2026-Q1"


def test_parse_rejects_anything_else(ask: Ask) -> None:
    with pytest.raises(UsageError, match="I don't understand “team emea”"):
        ask.parse("funnel", "team emea")


def test_win_rate_cycle_and_velocity(ask: Ask) -> None:
    text = text_of(ask("funnel", "", who="alvin"))
    assert "*Win rate:* 50% by count, 73% by value (1 won, 1 lost)" in text
    assert "*Sales cycle:* 73 days median, 73 mean" in text
    assert "*Sales velocity:* $2,740 a day (5 open deals)" in text


def test_stage_conversion_from_history(ask: Ask) -> None:
    # Deal 1 moved Proposal → Negotiation; deal 4 Negotiation → Closed Won.
    text = text_of(ask("funnel", "", who="alvin"))
    assert "• Proposal: 1 of 2 moved on (50%)" in text
    assert "• Negotiation: 1 of 3 moved on (33%)" in text


def test_pipeline_by_source(ask: Ask) -> None:
    text = text_of(ask("funnel", "", who="alvin"))
    assert "• Inbound: $410K open (4)" in text
    assert "• Outbound: $22K open (1)" in text
