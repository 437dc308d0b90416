"""/retention, /renewals and /account against the hand-built org (see conftest's docstring).

Q2 2026 to date (Apr 1 – May 15): MRR on Mar 31 = Acme 10,000 + Globex 5,000 + Initech 3,000 =
$18,000; on May 15 = Acme 10,000 + Globex 4,000 + hostile 2,000 = $16,000: new $2,000, contraction
$1,000, churn $3,000. NRR = GRR = 14,000 / 18,000 = 77.8%; logo churn 1 of 3 = 33.3%;
ARR today = 16,000 × 12 = $192,000.
Renewals within 90 days of May 15: only Acme (Jun 1, ARR $120,000).
"""

from __future__ import annotations

import pytest

from commands.registry import AccessDenied, UsageError
from tests.commands.conftest import ACME, Ask, text_of


def test_retention_parse_segment_account_and_period(ask: Ask) -> None:
    args, subject = ask.parse("retention", "segment enterprise last quarter", who="alvin")
    assert (subject.kind, args.segment, args.period.key) == ("segment", "Enterprise", "2026-Q1")
    args, subject = ask.parse("retention", "account acme", who="alvin")
    assert (subject.kind, args.account_id) == ("account", ACME)


def test_retention_parse_bare_account_name(ask: Ask) -> None:
    assert ask.parse("retention", "globex", who="alvin")[1].kind == "account"


def test_retention_unknown_segment_lists_the_known(ask: Ask) -> None:
    with pytest.raises(UsageError, match="segments are"):
        ask.parse("retention", "segment smb", who="alvin")


def test_retention_movements_and_ratios(ask: Ask) -> None:
    text = text_of(ask("retention", "", who="alvin"))
    assert "*ARR:* $192K · *MRR:* $18K → $16K" in text
    assert "• New: $2,000 (1 customer)" in text
    assert "• Contraction: −$1,000" in text
    assert "• Churn: −$3,000 (1 customer)" in text
    assert "*NRR:* 77.8% · *GRR:* 77.8% · *Logo churn:* 33.3% (1 of 3)" in text


def test_retention_of_one_segment(ask: Ask) -> None:
    # Enterprise: Acme 10,000 + Initech 3,000 at the start; Initech churns; hostile account is new.
    text = text_of(ask("retention", "segment enterprise", who="alvin"))
    assert "*MRR:* $13K → $12K" in text
    assert "*NRR:* 76.9%" in text  # 10,000 / 13,000


def test_rep_cannot_ask_for_a_segment(ask: Ask) -> None:
    with pytest.raises(AccessDenied):
        ask("retention", "segment enterprise")


def test_renewals_parse_days(ask: Ask) -> None:
    assert ask.parse("renewals", "30")[0].days == 30
    assert ask.parse("renewals", "30 days")[0].days == 30
    assert ask.parse("renewals", "")[0].days is None


@pytest.mark.parametrize("text", ["soon", "0", "-5", "9999", "3.5"])
def test_renewals_bad_days(ask: Ask, text: str) -> None:
    with pytest.raises(UsageError, match="DAYS must be a whole number"):
        ask.parse("renewals", text)


def test_renewals_show_risk_and_reasons(ask: Ask) -> None:
    text = text_of(ask("renewals", "", who="monica"))
    assert "*Acme Corp* · renews Jun 1, 2026 · $120K ARR · Dana Scully" in text
    assert "health score 35/100" in text
    assert "6 open support tickets" in text
    assert "usage down 40% in 30 days" in text  # 100 → 60 between Apr 1 and May 1


def test_renewals_window_excludes_later_ones(ask: Ask) -> None:
    assert "No renewals due in the next 10 days" in text_of(ask("renewals", "10", who="monica"))


def test_renewals_of_a_rep_are_their_accounts_only(ask: Ask) -> None:
    assert "No renewals due" in text_of(ask("renewals", "", who="fox"))


def test_account_view(ask: Ask) -> None:
    text = text_of(ask("account", "acme"))
    assert "*Owner:* Dana Scully · *Segment:* Enterprise" in text
    assert "*ARR:* $120K (Platform)" in text
    assert "*Next renewal:* Jun 1, 2026 (in 17 days)" in text
    assert "*Health:* 35/100 · usage 60 · 6 open tickets · NPS 1 (as of May 1, 2026)" in text
    assert "*Open deals (2) · $150K*" in text


def test_account_needs_a_name(ask: Ask) -> None:
    with pytest.raises(UsageError, match="say which account"):
        ask.parse("account", "")


def test_account_of_another_rep_is_refused(ask: Ask) -> None:
    with pytest.raises(AccessDenied):
        ask("account", "globex")
