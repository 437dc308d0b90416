"""/forecast against the hand-built org.

Dana, Q2 2026: closed $80,000 (deal 4); commit + deal 1 = $180,000; best case + deal 2 = $230,000;
pipeline the same. A week ago (May 8) deal 1 was $80,000 (raised to $100,000 on May 11), so
commit, best case and pipeline were each $20,000 lower; the Q2 pipeline went $130,000 → $150,000.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy.orm import Session

from bot.access import authorize
from commands import forecast as forecast_command
from commands.registry import CommandContext, Subject, UsageError
from metrics.periods import parse_period
from storage.config import RevbotConfig
from storage.models import Deal, DealHistory
from tests.commands.conftest import CALLERS, FOX, NOW, TODAY, Ask, text_of


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


def _busy_week(session: Session) -> None:
    """More changes in the week before NOW (May 8, 14:00 → May 15, 14:00): Dana's EUR deal 3 is
    pulled into Q2 (from Aug 15 to Jun 20) and up 20,000 → 25,000 EUR; Fox's deal 5 advanced from
    Prospecting without a category change; Jeffrey's deal 7 was lost on May 12 (it now closes
    then); Fox has a new Q2 deal 8; a change exactly at the week's start counts as before it."""
    deal_3, deal_5, deal_7 = (session.get(Deal, i) for i in (3, 5, 7))
    assert deal_3 and deal_5 and deal_7
    deal_3.close_date, deal_3.amount = date(2026, 6, 20), 25_000
    deal_7.stage, deal_7.is_closed, deal_7.close_date = "Closed Lost", True, date(2026, 5, 12)
    session.add(
        Deal(
            id=8,
            name="Globex Add-on",
            owner_id=FOX,
            amount=15_000.55,
            currency="GBP",
            stage="Proposal",
            close_date=date(2026, 6, 1),
            created_at=datetime(2026, 5, 13, 9),
        )
    )
    session.add_all(
        [
            DealHistory(
                deal_id=3,
                field="close_date",
                old_value="2026-08-15",
                new_value="2026-06-20",
                changed_at=datetime(2026, 5, 12, 10),
            ),
            DealHistory(
                deal_id=3, field="amount", old_value="20000", new_value="25000", changed_at=datetime(2026, 5, 12, 10)
            ),
            DealHistory(
                deal_id=5,
                field="stage",
                old_value="Prospecting",
                new_value="Qualification",
                changed_at=datetime(2026, 5, 9, 9),
            ),
            DealHistory(
                deal_id=7,
                field="stage",
                old_value="Negotiation",
                new_value="Closed Lost",
                changed_at=datetime(2026, 5, 12, 16),
            ),
            DealHistory(
                deal_id=7,
                field="close_date",
                old_value="2026-06-15",
                new_value="2026-05-12",
                changed_at=datetime(2026, 5, 12, 16),
            ),
            DealHistory(
                deal_id=2, field="amount", old_value="45000", new_value="50000", changed_at=datetime(2026, 5, 8, 14)
            ),
        ]
    )
    session.flush()


@pytest.mark.parametrize("who", ["dana", "walter", "alvin"])
@pytest.mark.parametrize("period_key", ["2026-Q2", "2026-Q3", "FY2026"])
def test_changed_deals_only_equals_the_full_rebuild(
    session: Session, config: RevbotConfig, who: str, period_key: str
) -> None:
    _busy_week(session)
    caller = CALLERS[who]
    subject = {"dana": Subject("self"), "walter": Subject("team", 1, "EMEA"), "alvin": Subject("everyone")}[who]
    scope = authorize(session, config, caller, "forecast", subject)
    ctx = CommandContext(session, config, caller, scope, TODAY, NOW)
    period = parse_period(period_key, today=TODAY)
    fast = forecast_command.compute(ctx, period, NOW - forecast_command.LOOKBACK)
    full = forecast_command.full_rebuild(ctx, period, NOW - forecast_command.LOOKBACK)
    assert (fast.now, fast.then) == (full.now, full.then)
    assert (fast.bridge.start, fast.bridge.end, fast.bridge.movements) == (
        full.bridge.start,
        full.bridge.end,
        full.bridge.movements,
    )
    assert fast.bridge.balances


def test_busy_week_by_hand(session: Session, config: RevbotConfig) -> None:
    _busy_week(session)
    scope = authorize(session, config, CALLERS["alvin"], "forecast", Subject("everyone"))
    ctx = CommandContext(session, config, CALLERS["alvin"], scope, TODAY, NOW)
    numbers = forecast_command.compute(ctx, parse_period("2026-Q2", today=TODAY), NOW - forecast_command.LOOKBACK)
    # Q2 pipeline a week ago: 1 (80,000), 2 (50,000: its change at the start itself stays), 5 (200,000),
    # 7 (60,000) = 390,000; now: 1 (100,000), 2, 3 (25,000 EUR = 27,000), 5, 8 (15,000.55 GBP × 1.27 =
    # 19,050.70) = 396,050.70: +20,000 amount up, +27,000 pulled in, +19,050.70 new, −60,000 lost
    assert (numbers.bridge.start, numbers.bridge.end) == (390_000.0, 396_050.7)
    moved = {name: (m.count, m.delta) for name, m in numbers.bridge.movements.items() if m.count}
    assert moved == {
        "amount_up": (1, 20_000.0),
        "pulled_in": (1, 27_000.0),
        "new": (1, 19_050.7),
        "lost": (1, -60_000.0),
        "advanced": (1, 0.0),
    }
