"""/target against the hand-built org.

Dana, Q2 2026: won deal 4 = $80,000 of a $300,000 target → 26.7% ("27%"), gap $220,000; open
closing in Q2 = $150,000 → coverage 0.68 ("0.7×"). Forecast over deals closing in Q2: closed
$80,000; commit + deal 1 ($100,000) = $180,000 (60% of target); best case + deal 2 ($50,000) =
$230,000 (76.7% → "77%"); pipeline the same (deal 3 closes in August). Run rate: 45 of 91 days
elapsed → 80,000 / 45 × 91 = $161,778 ("$162K", 53.9% → "54%").
EMEA: team target $600,000; won $80,000 → 13%; Fox has $0 of $250,000.
"""

from __future__ import annotations

import pytest

from commands.registry import UsageError
from tests.commands.conftest import Ask, text_of


def test_parse_person_and_period(ask: Ask) -> None:
    args, subject = ask.parse("target", "@dana last quarter", who="walter")
    assert subject.label == "Dana Scully" and args.period.key == "2026-Q1"


def test_parse_rejects_a_period_that_does_not_exist(ask: Ask) -> None:
    with pytest.raises(UsageError, match="quarter"):
        ask.parse("target", "2026-Q5")


def test_attainment_gap_and_coverage(ask: Ask) -> None:
    text = text_of(ask("target"))
    assert "*Attainment:* 27% · $80K won of $300K (1 deal)" in text
    assert "*Gap:* $220K still to win" in text
    assert "*Coverage:* 0.7× ($150K open pipeline closing in Q2 FY2026)" in text


def test_forecast_against_target(ask: Ask) -> None:
    text = text_of(ask("target"))
    assert "• Commit: $180K · 60% of target" in text
    assert "• Best case: $230K · 77% of target" in text


def test_run_rate_projection(ask: Ask) -> None:
    assert "$162K by Jun 30, 2026 at today's pace (54% of target)" in text_of(ask("target"))


def test_team_target_and_leaderboard(ask: Ask) -> None:
    text = text_of(ask("target", "team emea", who="walter"))
    assert "*Attainment:* 13% · $80K won of $600K" in text
    assert text.index("Dana Scully: $80K of $300K (27%)") < text.index("Fox Mulder: $0 of $250K (0%)")


def test_without_a_target_it_says_how_to_set_one(ask: Ask) -> None:
    text = text_of(ask("target", "", who="jeffrey"))
    assert "No target is set" in text and "*Closed-won:* $0 in 0 deals" in text
