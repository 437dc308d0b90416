"""/pipeline against the hand-built org (numbers worked out in conftest's docstring).

Dana, Q2 2026: open deals 1 ($100,000 Negotiation 75%), 2 ($50,000 Proposal 50%) and 3
(€20,000 × 1.08 = $21,600 Prospecting 10%): total $171,600 → "$172K"; weighted 75,000 + 25,000 +
2,160 = $102,160 → "$102K". Closing in Q2: deals 1 and 2 = $150,000. Won in Q2: deal 4, $80,000;
target $300,000 → $220,000 still to win; coverage 150,000 / 220,000 = 0.68 → "0.7×".
"""

from __future__ import annotations

import pytest

from commands.registry import AccessDenied, UsageError
from tests.commands.conftest import FOX, Ask, text_of


def test_parse_team_and_period(ask: Ask) -> None:
    args, subject = ask.parse("pipeline", "team EMEA next quarter", who="walter")
    assert (subject.kind, subject.label) == ("team", "EMEA")
    assert args.period.key == "2026-Q3"


def test_parse_mention_and_period(ask: Ask) -> None:
    args, subject = ask.parse("pipeline", "<@U0FOX|fox> Q3", who="walter")
    assert (subject.kind, subject.value, args.period.key) == ("user", FOX, "2026-Q3")


def test_parse_bad_period_is_a_usage_error(ask: Ask) -> None:
    with pytest.raises(UsageError):
        ask.parse("pipeline", "team emea Q7")


def test_parse_junk_is_a_usage_error(ask: Ask) -> None:
    with pytest.raises(UsageError, match="don't know anyone called “zzz”"):
        ask.parse("pipeline", "zzz")


def test_reps_own_totals_weighted_and_closing(ask: Ask) -> None:
    text = text_of(ask("pipeline"))
    assert "Pipeline · your deals · Q2 FY2026" in text
    assert "*Open pipeline:* $172K in 3 deals · *Weighted:* $102K" in text
    assert "*Closing in Q2 FY2026:* $150K in 2 deals" in text


def test_coverage_of_the_target_still_to_win(ask: Ask) -> None:
    assert "0.7× of the $220K still to win (goal 3.0×) :warning:" in text_of(ask("pipeline"))


def test_by_stage_in_funnel_order_and_by_category(ask: Ask) -> None:
    text = text_of(ask("pipeline"))
    assert "• Prospecting: 1 · $22K (weighted $2,160)" in text
    assert text.index("Prospecting: 1") < text.index("Proposal: 1") < text.index("Negotiation: 1")
    assert "• Commit: 1 · $100K" in text and "• Best Case: 1 · $50K" in text


def test_stalled_and_past_due_with_reasons(ask: Ask) -> None:
    text = text_of(ask("pipeline"))
    assert "*Stalled (1)*" in text and "no activity for 75 days" in text  # last activity Mar 1
    assert "*Past due (1)*" in text and "was due May 1, 2026 (14 days ago)" in text


def test_team_pipeline_for_the_manager(ask: Ask) -> None:
    text = text_of(ask("pipeline", "team emea", who="walter"))
    # Dana's three open deals + Fox's $200,000 = $371,600; closing in Q2: 100k + 50k + 200k.
    assert "*Open pipeline:* $372K in 4 deals" in text
    assert "*Closing in Q2 FY2026:* $350K in 3 deals" in text
    assert "Initech" not in text


def test_no_target_says_so(ask: Ask) -> None:
    assert "no target set for Q3 FY2026" in text_of(ask("pipeline", "next quarter"))


def test_rep_asking_for_another_rep_is_refused(ask: Ask) -> None:
    with pytest.raises(AccessDenied):
        ask("pipeline", "@fox")


def test_amounts_hidden_when_scope_hides_them(ask: Ask) -> None:
    from storage.scope import Scope

    text = text_of(ask("pipeline", "", who="monica", scope=Scope(label="everyone", show_amounts=False)))
    assert "$" not in text and "*Open deals:* 5" in text
