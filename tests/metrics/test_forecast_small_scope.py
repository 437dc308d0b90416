"""The row versions of the state rebuild and the bridge (a rep's few hundred values in plain Python)
against the frame versions, on `test_movement.week()` (8 → 15 Aug 2026, Q3)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from metrics.forecast_change import forecast_of, forecast_of_rows, forecast_state, forecast_state_rows
from metrics.movement import bridge_between, bridge_of_rows, round2, state_rows_at, states_at
from storage.config import RevbotConfig
from storage.forecast_queries import DealRow, HistoryRow
from tests.metrics.test_movement import END, Q3, START, week

COMPARED = ("id", "stage", "amount", "currency", "forecast_category", "status", "exists", "amount_rc", "cents")


def as_rows(book: pd.DataFrame, history: pd.DataFrame) -> tuple[list[DealRow], list[HistoryRow]]:
    deals = [
        DealRow(
            id=int(row.id),
            owner_id=int(row.owner_id),
            stage=row.stage,
            amount=float(row.amount),
            currency=row.currency,
            close_date=datetime(row.close_date.year, row.close_date.month, row.close_date.day),
            forecast_category=row.forecast_category,
            created_at=row.created_at.to_pydatetime(),
            is_closed=bool(row.is_closed),
            is_won=bool(row.is_won),
        )
        for row in book.itertuples()
    ]
    changes = [
        HistoryRow(int(row.deal_id), row.field, row.old_value, row.changed_at.to_pydatetime())
        for row in history.sort_values("changed_at", kind="stable").itertuples()
    ]
    return deals, changes


def test_round2_is_numpys_round_to_the_cent() -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 2e6, 20_000) * rng.choice([1.0, 1.08, 1.27, 0.0065, 3.3333], 20_000)
    values = np.concatenate([values, np.arange(0, 1000) / 1000 + 0.005, [0.125, 0.375, 2.675, 1.005]])
    assert [round2(v) for v in values.tolist()] == np.round(values, 2).tolist()


def test_state_rows_equal_state_frames(config: RevbotConfig) -> None:
    book, history = week()
    deals, changes = as_rows(book, history)
    for rows, frame in zip(
        state_rows_at(deals, changes, [START, END], config), states_at(book, history, [START, END], config), strict=True
    ):
        for name in (
            "id",
            "stage",
            "amount",
            "currency",
            "forecast_category",
            "status",
            "exists",
            "amount_rc",
            "cents",
        ):
            assert [getattr(row, name) for row in rows] == frame[name].astype(object).tolist(), name
        assert [row.close_date for row in rows] == [stamp.to_pydatetime() for stamp in frame["close_date"]]


def test_bridge_and_week_ago_forecast_of_rows_equal_the_frames(config: RevbotConfig) -> None:
    book, history = week()
    deals, changes = as_rows(book, history)
    before, after = state_rows_at(deals, changes, [START, END], config)
    rows = bridge_of_rows(before, after, start=START, end=END, config=config, period=Q3)
    frame_before, frame_after = states_at(book, history, [START, END], config)
    frames = bridge_between(frame_before, frame_after, start=START, end=END, config=config, period=Q3)
    assert (rows.start, rows.end, rows.movements) == (frames.start, frames.end, frames.movements)
    assert rows.balances and rows.movements["reopened"].count == 1  # every kind of movement is in this week
    then_rows = forecast_of_rows([], forecast_state_rows(before, changes, START), Q3, config)
    then_frames = forecast_of(pd.DataFrame(), forecast_state(frame_before, history, START), Q3, config)
    assert then_rows == then_frames
