"""Pipeline value and volume on a hand-built book (today 15 Aug 2026, period Q3 2026)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from metrics.periods import parse_period
from metrics.pipeline import past_due_deals, pipeline_by_stage, pipeline_summary, stalled_deals
from storage.config import RevbotConfig
from tests.metrics.builders import deal, deals

TODAY = date(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=TODAY)


@pytest.fixture
def book():
    return deals(
        # open, USD, Proposal (50%): 10,000 → weighted 5,000; closes in Q3
        deal(1, 10_000, "Proposal", close_date=date(2026, 9, 20)),
        # open, EUR 2,000 × 1.08 = 2,160 USD, Negotiation (75%) → weighted 1,620; closes in Q4
        deal(2, 2_000, "Negotiation", currency="EUR", close_date=date(2026, 10, 5)),
        # open, Prospecting (10%): 5,000 → 500; close date 10 Aug is past due by 5 days
        deal(3, 5_000, "Prospecting", close_date=date(2026, 8, 10), forecast_category="Commit"),
        # won in Q3 and lost in Q3: not pipeline
        deal(4, 7_000, "Closed Won", close_date=date(2026, 7, 20)),
        deal(5, 3_000, "Closed Lost", close_date=date(2026, 8, 1)),
    )


def test_total_weighted_and_count(book, config: RevbotConfig) -> None:
    summary = pipeline_summary(book, period=Q3, config=config, today=TODAY)
    assert summary.total == 17_160.00  # 10,000 + 2,160 + 5,000
    assert summary.weighted == 7_120.00  # 5,000 + 1,620 + 500
    assert summary.count == 3


def test_by_stage_is_in_funnel_order(book, config: RevbotConfig) -> None:
    by_stage = pipeline_by_stage(book, config)
    assert by_stage.to_dict("records") == [
        {"stage": "Prospecting", "count": 1, "amount": 5_000.0, "weighted": 500.0},
        {"stage": "Proposal", "count": 1, "amount": 10_000.0, "weighted": 5_000.0},
        {"stage": "Negotiation", "count": 1, "amount": 2_160.0, "weighted": 1_620.0},
    ]


def test_by_forecast_category_uses_crm_value_then_stage_default(book, config: RevbotConfig) -> None:
    summary = pipeline_summary(book, period=Q3, config=config, today=TODAY)
    # deal 3 says Commit in the CRM; deal 2 (Negotiation) defaults to Commit; deal 1 (Proposal) to Best Case
    assert summary.by_forecast_category.to_dict("records") == [
        {"forecast_category": "Commit", "count": 2, "amount": 7_160.0},
        {"forecast_category": "Best Case", "count": 1, "amount": 10_000.0},
    ]


def test_closing_and_created_in_period(book, config: RevbotConfig) -> None:
    book.loc[book["id"] == 1, "created_at"] = datetime(2026, 7, 1, 0, 30)
    book.loc[book["id"] == 5, "created_at"] = datetime(2026, 9, 30, 23, 59)
    summary = pipeline_summary(book, period=Q3, config=config, today=TODAY)
    # open deals closing 1 Jul – 30 Sep: deal 1 (10,000) and deal 3 (5,000, overdue but still in Q3)
    assert (summary.closing_in_period, summary.closing_in_period_count) == (15_000.0, 2)
    assert summary.closing_in_period_weighted == 5_500.0
    # created in Q3: deal 1 (open) and deal 5 (lost), whatever their status
    assert (summary.created_in_period, summary.created_in_period_count) == (13_000.0, 2)


def test_past_due_lists_open_deals_before_today(book, config: RevbotConfig) -> None:
    late = past_due_deals(book, today=TODAY, config=config)
    assert late["id"].tolist() == [3]
    assert late["days_overdue"].tolist() == [5]


def test_stalled_by_inactivity(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 1_000, "Proposal", last_activity_at=datetime(2026, 7, 25, 18)),  # 21 days → stalled
        deal(2, 1_000, "Proposal", last_activity_at=datetime(2026, 7, 26)),  # 20 days → fine
        deal(3, 1_000, "Proposal", last_activity_at=None, created_at=datetime(2026, 6, 1)),  # never touched
    )
    stalled = stalled_deals(book, today=TODAY, config=config, stage_medians={})
    assert sorted(stalled["id"].tolist()) == [1, 3]
    assert set(stalled["reason"]) == {"no activity for 21 days", "no activity for 75 days"}


def test_stalled_by_time_in_stage_against_the_median(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 1_000, "Proposal", stage_entered_at=datetime(2026, 7, 20)),  # 26 days > 2 × 12
        deal(2, 2_000, "Proposal", stage_entered_at=datetime(2026, 7, 22)),  # 24 days: not > 24
    )
    stalled = stalled_deals(book, today=TODAY, config=config, stage_medians={"Proposal": 12})
    assert stalled["id"].tolist() == [1]
    assert stalled["reason"].tolist() == ["in Proposal for 26 days (median 12)"]


def test_unknown_stage_uses_the_deals_own_probability(config: RevbotConfig) -> None:
    book = deals(deal(1, 4_000, "Verbal", probability=90.0), deal(2, 1_000, "Mystery"))
    summary = pipeline_summary(book, period=Q3, config=config, today=TODAY)
    assert summary.weighted == 3_600.0  # 4,000 × 90% + 1,000 × 0%
