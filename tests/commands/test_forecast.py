"""/forecast against the hand-built org.

Dana, Q2 2026: closed $80,000 (deal 4); commit + deal 1 = $180,000; best case + deal 2 = $230,000;
pipeline the same. A week ago (May 8) deal 1 was $80,000 (raised to $100,000 on May 11), so
commit, best case and pipeline were each $20,000 lower; the Q2 pipeline went $130,000 → $150,000.
"""

from __future__ import annotations

import pytest

from commands.registry import UsageError
from tests.commands.conftest import Ask, text_of


def test_parse_team_and_period(ask: Ask) -> None:
    args, subject = ask.parse("forecast", "team emea Q3", who="walter")
    assert (subject.kind, subject.label, args.period.key) == ("team", "EMEA", "2026-Q3")


def test_parse_does_not_take_a_person(ask: Ask) -> None:
    with pytest.raises(UsageError, match="takes a team, like `team emea`, not a person"):
        ask.parse("forecast", "@fox", who="walter")


def test_cumulative_categories(ask: Ask) -> None:
    text = text_of(ask("forecast"))
    assert "*Closed:* $80K · no change since last week" in text
    assert "*Commit:* $180K" in text and "*Best case:* $230K" in text and "*Pipeline:* $230K" in text


def test_change_since_last_week_from_history(ask: Ask) -> None:
    text = text_of(ask("forecast"))
    assert "*Commit:* $180K · :arrow_up: $20K since last week" in text
    assert "$130K → $150K" in text
    assert "• Amount up: 1 deal (+$20K)" in text


def test_team_forecast_includes_every_member(ask: Ask) -> None:
    assert "*Pipeline:* $430K" in text_of(ask("forecast", "team emea", who="walter"))  # + Fox's $200,000
