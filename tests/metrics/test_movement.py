"""The pipeline bridge from 8 Aug to 15 Aug 2026 for Q3, one deal per movement."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from metrics.movement import pipeline_bridge
from metrics.periods import parse_period
from storage.config import RevbotConfig
from tests.metrics.builders import change, deal, deals

START, END = datetime(2026, 8, 8), datetime(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=END.date())


def week():
    book = deals(
        deal(1, 1_000, "Proposal", close_date=date(2026, 9, 1)),  # was 800 in Qualification → up 200, advanced
        deal(2, 500, "Closed Won", close_date=date(2026, 8, 10)),  # won this week
        deal(3, 300, "Negotiation", close_date=date(2026, 10, 10)),  # close date moved to Q4 → slipped
        deal(4, 700, "Proposal", created_at=datetime(2026, 8, 12), close_date=date(2026, 9, 10)),  # new
        deal(5, 400, "Closed Lost", close_date=date(2026, 8, 13)),  # lost this week
        deal(6, 900, "Negotiation", close_date=date(2026, 9, 20)),  # pulled in from Q4
        deal(7, 250, "Qualification", close_date=date(2026, 9, 2)),  # regressed from Proposal, 300 → 250
        deal(8, 600, "Proposal", close_date=date(2026, 9, 3)),  # untouched
        deal(9, 150, "Prospecting", close_date=date(2026, 9, 4)),  # reopened after a loss
    )
    history = pd.DataFrame(
        [
            change(1, "amount", 800, 1000, datetime(2026, 8, 12)),
            change(1, "stage", "Qualification", "Proposal", datetime(2026, 8, 12)),
            change(2, "stage", "Negotiation", "Closed Won", datetime(2026, 8, 10)),
            change(3, "close_date", "2026-09-20", "2026-10-10", datetime(2026, 8, 11)),
            change(5, "stage", "Proposal", "Closed Lost", datetime(2026, 8, 13)),
            change(6, "close_date", "2026-11-30", "2026-09-20", datetime(2026, 8, 9)),
            change(7, "stage", "Proposal", "Qualification", datetime(2026, 8, 14)),
            change(7, "amount", 300, 250, datetime(2026, 8, 14)),
            change(8, "amount", 500, 600, datetime(2026, 8, 1)),  # before the start: no movement
            change(9, "stage", "Closed Lost", "Prospecting", datetime(2026, 8, 9)),
        ]
    )
    return book, history


def test_bridge_movements(config: RevbotConfig) -> None:
    book, history = week()
    bridge = pipeline_bridge(book, history, start=START, end=END, config=config, period=Q3)
    # start: 800 (1) + 500 (2) + 300 (3) + 400 (5) + 300 (7) + 600 (8) = 2,900
    assert bridge.start == 2_900.0
    # end: 1,000 (1) + 700 (4) + 900 (6) + 250 (7) + 600 (8) + 150 (9) = 3,600
    assert bridge.end == 3_600.0
    expected = {
        "new": (1, 700.0),
        "pulled_in": (1, 900.0),
        "reopened": (1, 150.0),
        "amount_up": (1, 200.0),
        "amount_down": (1, -50.0),
        "advanced": (1, 0.0),
        "regressed": (1, 0.0),
        "slipped": (1, -300.0),
        "won": (1, -500.0),
        "lost": (1, -400.0),
    }
    assert {name: (m.count, m.delta) for name, m in bridge.movements.items()} == expected
    assert bridge.advanced.amount == 1_000.0  # value of the deal that advanced
    assert bridge.balances


def test_bridge_without_a_period_ignores_close_dates(config: RevbotConfig) -> None:
    book, history = week()
    bridge = pipeline_bridge(book, history, start=START, end=END, config=config)
    assert bridge.slipped.count == 0 and bridge.pulled_in.count == 0
    assert bridge.balances
