"""The week-ago forecast and bridge from SQL-style groups plus the changed deals only.

The book is `test_movement.week()` (8 → 15 Aug 2026, Q3): deals 1, 2, 3, 5, 6, 7, 9 have history
after the start and deal 4 was created after it, so only deal 8 (600, Proposal, closing 3 Sep)
is unchanged. `rollup` stands in for `storage.forecast_queries.closing_rollup_sql`.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from metrics.forecast_change import (
    GROUP_KEYS,
    as_they_stood,
    forecast_of,
    group_cents,
    open_cents,
    rebuild_changed,
    state_for_forecast,
    unchanged_groups,
    with_unchanged,
)
from metrics.movement import pipeline_bridge, state_at, states_at
from metrics.periods import Period
from metrics.revenue import forecast
from storage.config import RevbotConfig
from tests.metrics.builders import deal, deals
from tests.metrics.test_movement import END, Q3, START, week

CHANGED = [1, 2, 3, 4, 5, 6, 7, 9]


def rollup(book: pd.DataFrame, period: Period, exact: tuple[str, ...] = ()) -> pd.DataFrame:
    """What closing_rollup_sql returns for `book`: deals closing in `period`, grouped."""
    closing = book[(book["close_date"] >= period.start) & (book["close_date"] <= period.end)].copy()
    closing["forecast_category"] = closing["forecast_category"].astype(object)
    closing["exact_amount"] = closing["amount"].where(closing["currency"].isin(exact), None)
    keys = closing[GROUP_KEYS].astype(object).where(closing[GROUP_KEYS].notna(), "-")
    grouped = closing.assign(**{k: keys[k] for k in GROUP_KEYS}, count=1).groupby(GROUP_KEYS, as_index=False)
    frame = grouped.agg(count=("count", "sum"), amount=("amount", "sum"))
    return frame.replace({"-": None})


def test_unchanged_groups_leave_out_the_changed_deals(config: RevbotConfig) -> None:
    book, _ = week()
    groups = unchanged_groups(rollup(book, Q3), book[book["id"].isin(CHANGED)], Q3, config)
    # Q3 closes deals 1, 2, 4, 5, 6, 7, 8, 9; all but 8 changed: one Proposal group of 600 is left
    assert groups[["stage", "count", "amount"]].to_dict("records") == [
        {"stage": "Proposal", "count": 1, "amount": 600.0}
    ]


def test_group_cents_round_each_deal_in_a_foreign_currency(config: RevbotConfig) -> None:
    eur = config.model_copy(update={"fx_rates": {"EUR": 1.25}})
    book = deals(*(deal(i, 10.01, "Proposal", currency="EUR") for i in (1, 2, 3)))
    groups = rollup(book, Q3, exact=("EUR",))
    # each 10.01 EUR is 12.5125 → $12.51; three are $37.53 (the sum, 30.03 × 1.25 = 37.5375, would be $37.54)
    assert group_cents(groups, eur).tolist() == [3753]


def test_as_they_stood_takes_status_from_the_stage(config: RevbotConfig) -> None:
    groups = pd.DataFrame(
        [
            {"stage": "Closed Won", "is_closed": False, "is_won": False},  # CRM flags lag the stage
            {"stage": "Custom", "is_closed": True, "is_won": False},  # unknown stage: the CRM flags stay
        ]
    )
    stood = as_they_stood(groups, config)
    assert stood[["is_closed", "is_won"]].values.tolist() == [[True, True], [True, False]]


def test_week_ago_forecast_from_changed_deals_equals_the_full_rebuild(config: RevbotConfig) -> None:
    book, history = week()
    changed = book[book["id"].isin(CHANGED)].reset_index(drop=True)
    stood = as_they_stood(unchanged_groups(rollup(book, Q3), changed, Q3, config), config)
    then = forecast_of(stood, state_for_forecast(changed, history, START, config), Q3, config)
    # a week ago, Q3: 1 (800 Qualification), 2 (500 Negotiation), 3 (300 Negotiation, closing 20 Sep),
    # 5 (400 Proposal), 7 (300 Proposal), 8 (600 Proposal): commit 500 + 300 = 800,
    # best case + 400 + 300 + 600 = 2,100, pipeline + 800 = 2,900
    assert (then.closed, then.commit, then.best_case, then.pipeline) == (0.0, 800.0, 2_100.0, 2_900.0)
    assert then == forecast(state_for_forecast(book, history, START, config), Q3, config=config)


def test_forecast_now_from_groups_and_changed_rows_equals_forecast(config: RevbotConfig) -> None:
    book, _ = week()
    changed = book[book["id"].isin(CHANGED)].reset_index(drop=True)
    now = forecast_of(unchanged_groups(rollup(book, Q3), changed, Q3, config), changed, Q3, config)
    # closed 500 (2); commit + 900 (6) = 1,400; best case + 1,000 (1) + 700 (4) + 600 (8) = 3,700;
    # pipeline + 250 (7) + 150 (9) = 4,100
    assert (now.closed, now.commit, now.best_case, now.pipeline) == (500.0, 1_400.0, 3_700.0, 4_100.0)


def test_bridge_of_changed_deals_plus_unchanged_equals_the_full_bridge(config: RevbotConfig) -> None:
    book, history = week()
    changed = book[book["id"].isin(CHANGED)].reset_index(drop=True)
    _, changed_bridge = rebuild_changed(changed, history, start=START, end=END, period=Q3, config=config)
    unchanged = unchanged_groups(rollup(book, Q3), changed, Q3, config)
    bridge = with_unchanged(changed_bridge, open_cents(unchanged, config))
    full = pipeline_bridge(book, history, start=START, end=END, config=config, period=Q3)
    assert (bridge.start, bridge.end) == (full.start, full.end) == (2_900.0, 3_600.0)  # deal 8's 600 in both
    assert bridge.movements == full.movements and bridge.balances


def test_states_at_equals_state_at_for_each_moment(config: RevbotConfig) -> None:
    book, history = week()
    before, after = states_at(book, history, [START, END], config)
    pd.testing.assert_frame_equal(before, state_at(book, history, START, config))
    pd.testing.assert_frame_equal(after, state_at(book, history, END, config))


def test_unchanged_groups_keep_a_group_without_category_or_currency(config: RevbotConfig) -> None:
    book = deals(
        deal(1, 100, "Proposal", currency=None, close_date=date(2026, 9, 1)),
        deal(2, 40, "Proposal", currency=None, close_date=date(2026, 9, 2)),
    )
    groups = unchanged_groups(rollup(book, Q3), book[book["id"] == 2], Q3, config)
    assert groups[["currency", "forecast_category", "count", "amount"]].to_dict("records") == [
        {"currency": None, "forecast_category": None, "count": 1, "amount": 100.0}
    ]
