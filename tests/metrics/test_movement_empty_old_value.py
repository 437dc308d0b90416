"""A field's value at a moment is the old value of its first change after that moment, even when
that old value is empty: a forecast category None → Best Case → Commit during the week was none
a week ago, not Best Case (pandas' `groupby.first()` skips empty values and said Best Case)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from metrics.forecast_change import state_for_forecast
from metrics.movement import state_at, state_rows_at
from metrics.periods import parse_period
from metrics.revenue import forecast
from storage.config import RevbotConfig
from storage.forecast_queries import DealRow, HistoryRow
from tests.metrics.builders import change, deal, deals

WEEK_AGO, NOW = datetime(2026, 8, 8), datetime(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=NOW.date())


def _book() -> tuple[pd.DataFrame, pd.DataFrame]:
    book = deals(
        deal(1, 1_000, "Prospecting", forecast_category="Commit", close_date=date(2026, 9, 1)),
        deal(2, 2_000, "Prospecting", forecast_category="Commit", close_date=date(2026, 9, 2)),
    )
    history = pd.DataFrame(
        [
            # Deal 1: no category a week ago, then Best Case, then Commit.
            change(1, "forecast_category", None, "Best Case", datetime(2026, 8, 10)),
            change(1, "forecast_category", "Best Case", "Commit", datetime(2026, 8, 12)),
            # Deal 2: Best Case a week ago, cleared, then Commit: Best Case either way.
            change(2, "forecast_category", "Best Case", None, datetime(2026, 8, 10)),
            change(2, "forecast_category", None, "Commit", datetime(2026, 8, 12)),
        ]
    )
    return book, history


def test_state_a_week_ago_keeps_an_empty_first_old_value(config: RevbotConfig) -> None:
    book, history = _book()
    then = state_at(book, history, WEEK_AGO, config).set_index("id")
    assert pd.isna(then.loc[1, "forecast_category"])
    assert then.loc[2, "forecast_category"] == "Best Case"


def test_rows_path_agrees(config: RevbotConfig) -> None:
    book, history = _book()
    rows = [
        DealRow(
            id=int(r["id"]),
            owner_id=1,
            stage=r["stage"],
            amount=float(r["amount"]),
            currency="USD",
            close_date=datetime.combine(r["close_date"], datetime.min.time()),
            forecast_category=r["forecast_category"],
            created_at=r["created_at"],
            is_closed=bool(r["is_closed"]),
            is_won=bool(r["is_won"]),
        )
        for r in book.to_dict("records")
    ]
    changes = [
        HistoryRow(h["deal_id"], h["field"], None if pd.isna(h["old_value"]) else h["old_value"], h["changed_at"])
        for h in history.to_dict("records")
    ]
    (then,) = state_rows_at(rows, changes, [WEEK_AGO], config)
    assert [state.forecast_category for state in then] == [None, "Best Case"]


def test_forecast_a_week_ago_counts_the_stage_category(config: RevbotConfig) -> None:
    book, history = _book()
    then = forecast(state_for_forecast(book, history, WEEK_AGO, config), Q3, config=config)
    # Deal 1 had no category: its stage's (Prospecting: Pipeline); deal 2 was Best Case.
    assert then.best_case == 2_000.0
    assert then.pipeline == 3_000.0
