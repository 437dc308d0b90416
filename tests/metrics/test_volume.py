"""Target-account penetration by segment and pipeline by lead source."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from metrics.periods import parse_period
from metrics.volume import by_source, target_account_penetration
from storage.config import RevbotConfig
from tests.metrics.builders import deal, deals

Q3 = parse_period("2026-Q3", today=date(2026, 8, 15))


def test_penetration_per_segment(config: RevbotConfig) -> None:
    accounts = pd.DataFrame(
        [
            {"id": 1, "segment": "Enterprise", "is_target_account": True},  # open deal
            {"id": 2, "segment": "Enterprise", "is_target_account": True},  # only a lost deal
            {"id": 3, "segment": "Enterprise", "is_target_account": True},  # won deal
            {"id": 4, "segment": "Mid-Market", "is_target_account": True},  # nothing
            {"id": 5, "segment": "Mid-Market", "is_target_account": False},  # not a target
        ]
    )
    book = deals(
        deal(1, 100, "Proposal", account_id=1),
        deal(2, 100, "Closed Lost", account_id=2),
        deal(3, 100, "Closed Won", account_id=3, close_date=date(2026, 7, 2)),
        deal(4, 100, "Proposal", account_id=5),
    )
    table = target_account_penetration(accounts, book, config=config)
    assert table.to_dict("records") == [
        {"segment": "Enterprise", "target_accounts": 3, "engaged": 2, "penetration": 2 / 3},
        {"segment": "Mid-Market", "target_accounts": 1, "engaged": 0, "penetration": 0.0},
    ]


def test_by_source(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 1_000, "Proposal", source="Inbound", created_at=datetime(2026, 7, 5)),
        deal(2, 2_000, "Proposal", source="Outbound", created_at=datetime(2026, 3, 5)),
        deal(3, 500, "Closed Won", source="Inbound", close_date=date(2026, 8, 1), created_at=datetime(2026, 7, 9)),
        deal(4, 300, "Closed Won", source=None, close_date=date(2026, 8, 1)),
    )
    table = by_source(book, period=Q3, config=config).set_index("source")
    assert table.loc["Outbound"].tolist() == [2_000.0, 1, 0.0, 0, 0.0, 0]
    assert table.loc["Inbound"].tolist() == [1_000.0, 1, 1_500.0, 2, 500.0, 1]
    assert table.loc["Unknown"].tolist() == [0.0, 0, 0.0, 0, 300.0, 1]
    assert table.index.tolist() == ["Outbound", "Inbound", "Unknown"]  # biggest pipeline first
