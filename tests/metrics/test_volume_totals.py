"""Pipeline by lead source from per-(source, currency) totals equals `by_source` on the deals."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from metrics.periods import parse_period
from metrics.volume import by_source, by_source_from_totals
from storage.config import RevbotConfig
from tests.metrics.builders import deal, deals

Q3 = parse_period("2026-Q3", today=date(2026, 8, 15))


def test_totals_give_the_same_table_as_the_deals(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 1_000, "Proposal", source="Inbound", created_at=datetime(2026, 7, 2)),  # open, created in Q3
        deal(2, 500, "Closed Won", source="Inbound", close_date=date(2026, 8, 1)),  # won in Q3
        deal(3, 300, "Proposal", source=None),  # open, "Unknown"
        deal(4, 200, "Closed Lost", source="Partner", close_date=date(2026, 8, 1)),  # only listed
    )
    columns = ["source", "currency"] + [
        f"{b}_{k}" for b in ("open", "created", "won", "lost") for k in ("count", "cents")
    ]
    totals = pd.DataFrame(
        [
            ["Inbound", "USD", 1, 100_000, 1, 100_000, 1, 50_000, 0, 0],
            [None, "USD", 1, 30_000, 0, 0, 0, 0, 0, 0],
            ["Partner", "USD", 0, 0, 0, 0, 0, 0, 1, 20_000],
        ],
        columns=columns,
    )
    table = by_source_from_totals(totals, config)
    assert table["source"].tolist() == ["Inbound", "Unknown", "Partner"]  # biggest open pipeline first
    assert table.loc[0, ["pipeline", "created", "won"]].tolist() == [1_000.0, 1_000.0, 500.0]
    pd.testing.assert_frame_equal(table, by_source(book, period=Q3, config=config))
