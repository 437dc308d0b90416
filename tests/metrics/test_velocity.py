"""Win rate, deal size, cycle, sales velocity, stage conversion and time in stage."""

from __future__ import annotations

from datetime import date, datetime

from metrics.periods import parse_period
from metrics.velocity import median_days_in_stage, stage_conversion, time_in_stage, velocity
from storage.config import RevbotConfig
from tests.metrics.builders import change, deal, deals

TODAY = date(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=TODAY)


def test_win_rate_deal_size_cycle_and_velocity(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 30_000, "Closed Won", created_at=datetime(2026, 5, 1, 15), close_date=date(2026, 7, 10)),  # 70 days
        deal(2, 10_000, "Closed Won", created_at=datetime(2026, 7, 1), close_date=date(2026, 7, 31)),  # 30 days
        deal(3, 40_000, "Closed Lost", close_date=date(2026, 8, 1)),
        deal(4, 1_000, "Closed Lost", close_date=date(2026, 6, 1)),  # Q2: ignored
        deal(5, 5_000, "Proposal"),
        deal(6, 5_000, "Proposal"),
        deal(7, 5_000, "Proposal"),
        deal(8, 5_000, "Proposal"),
    )
    result = velocity(book, period=Q3, config=config)
    assert (result.won_count, result.lost_count) == (2, 1)
    assert result.win_rate_by_count == 2 / 3
    assert result.win_rate_by_value == 40_000 / 80_000
    assert result.average_deal_size == 20_000.0
    assert (result.cycle_median_days, result.cycle_mean_days) == (50.0, 50.0)
    # 4 open × 2/3 × 20,000 / 50 days
    assert result.sales_velocity_per_day == round(4 * (2 / 3) * 20_000 / 50, 2)


def test_no_closed_deals_gives_na(config: RevbotConfig) -> None:
    result = velocity(deals(deal(1, 100, "Proposal")), period=Q3, config=config)
    assert result.win_rate_by_count is None
    assert result.average_deal_size is None
    assert result.sales_velocity_per_day is None


def history():
    return deals(
        # deal 1: Prospecting → Qualification (5 Jul) → Proposal (15 Jul) → Closed Won (25 Jul)
        change(1, "stage", "Prospecting", "Qualification", datetime(2026, 7, 5)),
        change(1, "stage", "Qualification", "Proposal", datetime(2026, 7, 15)),
        change(1, "stage", "Proposal", "Closed Won", datetime(2026, 7, 25)),
        # deal 2: Prospecting → Qualification (11 Jul) → Closed Lost (1 Aug)
        change(2, "stage", "Prospecting", "Qualification", datetime(2026, 7, 11)),
        change(2, "stage", "Qualification", "Closed Lost", datetime(2026, 8, 1)),
        change(2, "amount", "100", "200", datetime(2026, 7, 12)),  # not a stage change
    )


def test_stage_conversion(config: RevbotConfig) -> None:
    table = stage_conversion(history(), config).set_index("stage")
    # both reached Prospecting and Qualification; only deal 1 went on past Qualification
    assert table.loc["Prospecting", ["reached", "advanced"]].tolist() == [2, 2]
    assert table.loc["Qualification", ["reached", "advanced"]].tolist() == [2, 1]
    assert table.loc["Qualification", "conversion"] == 0.5
    assert table.loc["Proposal", "conversion"] == 1.0
    assert table.loc["Negotiation", "conversion"] is None


def test_time_in_stage_uses_created_at_for_the_first_stage(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 1, "Closed Won", created_at=datetime(2026, 7, 1)),
        deal(2, 1, "Closed Lost", created_at=datetime(2026, 7, 1)),
    )
    stays = time_in_stage(history(), deals=book)
    # Prospecting: 4 days (deal 1), 10 days (deal 2); Qualification: 10 and 21; Proposal: 10
    assert sorted(stays.loc[stays["stage"] == "Qualification", "days"]) == [10.0, 21.0]
    assert median_days_in_stage(history(), deals=book) == {"Prospecting": 7.0, "Qualification": 15.5, "Proposal": 10.0}
