"""/deal: cards within the caller's scope, history, CRM link, amounts hidden for CS."""

from __future__ import annotations

import pytest

from commands.registry import UsageError
from tests.commands.conftest import Ask, text_of


def test_parse_keeps_the_search_text_and_unescapes_slack_entities(ask: Ask) -> None:
    args, subject = ask.parse("deal", "AT&amp;T renewal")
    assert args.text == "AT&T renewal"
    assert subject.kind == "deal_search"


def test_parse_without_text_says_what_is_missing(ask: Ask) -> None:
    with pytest.raises(UsageError, match="say which deal"):
        ask.parse("deal", "   ")


def test_card_shows_amount_stage_close_owner_age_activity_and_history(ask: Ask) -> None:
    text = text_of(ask("deal", "acme expansion"))
    assert "<https://crm.example/opportunity/0060001|Acme Expansion>" in text
    assert "$100K" in text
    assert "Negotiation (75%)" in text and "Commit" in text
    assert "Jun 10, 2026" in text
    assert "Dana Scully" in text
    assert "In stage:* 25 days" in text  # Apr 20 → May 15
    assert "May 10, 2026 (5 days ago)" in text
    assert "May 11, 2026: amount $80K → $100K" in text
    assert "Apr 20, 2026: stage Proposal → Negotiation" in text


def test_overdue_deal_is_flagged(ask: Ask) -> None:
    assert "14 days overdue" in text_of(ask("deal", "acme renewal"))  # closes May 1, today May 15


def test_search_by_account_finds_every_deal_on_it_open_first(ask: Ask) -> None:
    text = text_of(ask("deal", "acme"))
    assert "3 deals matching" in text
    assert text.index("Acme Expansion") < text.index("Acme Won")


def test_search_by_crm_id(ask: Ask) -> None:
    assert "Globex Platform" in text_of(ask("deal", "0060005", who="fox"))


def test_rep_never_finds_another_reps_deal(ask: Ask) -> None:
    text = text_of(ask("deal", "globex"))
    assert "No deals match" in text
    assert "Globex Platform" not in text


def test_foreign_currency_shows_own_and_reporting_amounts(ask: Ask) -> None:
    assert "20,000 EUR" not in text_of(ask("deal", "0060003"))
    assert "€20K (≈ $22K)" in text_of(ask("deal", "0060003"))  # 20,000 × 1.08 = 21,600


def test_cs_sees_no_amounts(ask: Ask) -> None:
    text = text_of(ask("deal", "acme", who="monica"))
    assert "Acme Expansion" in text
    assert "$" not in text
    assert "amount changed" in text


def test_card_has_an_open_in_crm_button(ask: Ask) -> None:
    message = ask("deal", "acme expansion")
    buttons = [b for b in message.blocks if b["type"] == "actions"][0]["elements"]
    assert buttons[0]["url"] == "https://crm.example/opportunity/0060001"
    assert buttons[0]["text"]["text"] == "Open Acme Expansion"


def test_more_than_five_matches_says_how_many_more(ask: Ask, session) -> None:
    from datetime import date

    from tests.commands.conftest import DANA, _deal

    session.add_all(
        [
            _deal(100 + i, f"Acme Seat Pack {i}", DANA, 1, 1_000 * i, "Prospecting", close_date=date(2026, 6, 1))
            for i in range(1, 5)
        ]
    )
    session.flush()
    text = text_of(ask("deal", "acme"))
    assert "7 deals matching" in text
    assert "…and 2 more" in text


@pytest.fixture
def kept_numbers(monkeypatch: pytest.MonkeyPatch):
    """`shared_numbers` keeping even the fixture org's millisecond answers, and forgetting them after."""
    from commands import shared_numbers

    monkeypatch.setattr(shared_numbers, "MIN_COMPUTE_SECONDS", 0.0)
    shared_numbers.clear()
    yield
    shared_numbers.clear()


def test_an_org_wide_search_is_kept_and_a_reps_is_not(ask: Ask, kept_numbers, monkeypatch: pytest.MonkeyPatch) -> None:
    import commands.deal

    searched = []
    find = commands.deal.find_deal_ids
    monkeypatch.setattr(commands.deal, "find_deal_ids", lambda *a, **k: searched.append(a[2]) or find(*a, **k))
    first = text_of(ask("deal", "acme", who="alvin"))
    assert text_of(ask("deal", "acme", who="alvin")) == first  # the exec's ids were kept
    assert "3 deals matching" in first and searched == ["acme"]
    assert text_of(ask("deal", "acme")) == text_of(ask("deal", "acme"))  # Dana's are searched each time
    assert searched == ["acme"] * 3
    assert "Globex Platform" in text_of(ask("deal", "globex", who="alvin"))  # another text, another search
