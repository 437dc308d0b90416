"""Invariants checked on generated data with hypothesis."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.movement import pipeline_bridge
from metrics.periods import parse_period
from metrics.pipeline import pipeline_summary
from metrics.retention import mrr_movements, retention
from storage.config import RevbotConfig

CONFIG = RevbotConfig()
TODAY = date(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=TODAY)
STAGES = [s.name for s in CONFIG.stages]
OPEN_STAGES = [s.name for s in CONFIG.stages if s.status == "open"]
money = st.decimals(min_value=0, max_value=10_000_000, places=2).map(float)
days = st.integers(min_value=-200, max_value=200)


@st.composite
def deal_rows(draw: st.DrawFn) -> dict:
    stage = draw(st.sampled_from(STAGES))
    return {
        "id": draw(st.integers(1, 10**9)),
        "amount": draw(money),
        "currency": draw(st.sampled_from(["USD", "EUR", "GBP"])),
        "stage": stage,
        "probability": draw(st.none() | st.floats(0, 100)),
        "is_closed": stage.startswith("Closed"),
        "is_won": stage == "Closed Won",
        "close_date": TODAY + timedelta(days=draw(days)),
        "created_at": datetime(2026, 1, 1) + timedelta(days=draw(st.integers(0, 300))),
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(deal_rows(), max_size=30, unique_by=lambda r: r["id"]))
def test_weighted_never_exceeds_total(rows: list[dict]) -> None:
    summary = pipeline_summary(pd.DataFrame(rows), period=Q3, config=CONFIG, today=TODAY)
    assert 0 <= summary.weighted <= summary.total
    assert round(summary.by_stage["amount"].sum(), 2) == summary.total


@st.composite
def deals_with_history(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    count = draw(st.integers(0, 15))
    deals, changes = [], []
    for deal_id in range(1, count + 1):
        created = datetime(2026, 8, 1) + timedelta(days=draw(st.integers(0, 13)), hours=draw(st.integers(0, 23)))
        stage = draw(st.sampled_from(STAGES))
        deals.append(
            {
                "id": deal_id,
                "amount": draw(money),
                "currency": draw(st.sampled_from(["USD", "EUR"])),
                "stage": stage,
                "is_closed": stage.startswith("Closed"),
                "is_won": stage == "Closed Won",
                "close_date": TODAY + timedelta(days=draw(days)),
                "created_at": created,
            }
        )
        for _ in range(draw(st.integers(0, 4))):
            field = draw(st.sampled_from(["stage", "amount", "close_date"]))
            old = {
                "stage": draw(st.sampled_from(STAGES)),
                "amount": str(draw(money)),
                "close_date": (TODAY + timedelta(days=draw(days))).isoformat(),
            }[field]
            at = created + timedelta(hours=draw(st.integers(1, 24 * 14)))
            changes.append({"deal_id": deal_id, "field": field, "old_value": old, "new_value": None, "changed_at": at})
    return pd.DataFrame(deals), pd.DataFrame(changes)


@settings(max_examples=60, deadline=None)
@given(deals_with_history(), st.booleans())
def test_pipeline_bridge_balances_to_the_cent(data: tuple[pd.DataFrame, pd.DataFrame], with_period: bool) -> None:
    deals, history = data
    bridge = pipeline_bridge(
        deals,
        history,
        start=datetime(2026, 8, 8),
        end=datetime(2026, 8, 15),
        config=CONFIG,
        period=Q3 if with_period else None,
    )
    total_cents = round(bridge.start * 100) + sum(round(m.delta * 100) for m in bridge.movements.values())
    assert total_cents == round(bridge.end * 100)


@st.composite
def subscription_rows(draw: st.DrawFn) -> pd.DataFrame:
    rows = []
    for account_id in range(1, draw(st.integers(0, 10)) + 1):
        for _ in range(draw(st.integers(1, 3))):
            start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
            end = start + timedelta(days=draw(st.integers(1, 400)))
            rows.append(
                {
                    "account_id": account_id,
                    "mrr": draw(st.decimals(min_value=1, max_value=100_000, places=2).map(float)),
                    "currency": draw(st.sampled_from(["USD", "EUR", "GBP"])),
                    "start_date": start,
                    "end_date": end,
                    "status": draw(st.sampled_from(["active", "canceled", "superseded"])),
                }
            )
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None)
@given(subscription_rows())
def test_mrr_bridge_balances_and_grr_is_at_most_100_percent(subscriptions: pd.DataFrame) -> None:
    moves = mrr_movements(subscriptions, Q3, CONFIG)
    cents = [round(x * 100) for x in (moves.start_mrr, moves.new, moves.expansion, moves.reactivation)]
    lost = [round(x * 100) for x in (moves.contraction, moves.churn)]
    assert sum(cents) - sum(lost) == round(moves.end_mrr * 100)
    result = retention(subscriptions, Q3, CONFIG)
    assert result.grr is None or 0 <= result.grr <= 1
    assert result.grr is None or result.grr <= result.nrr


@settings(max_examples=40, deadline=None)
@given(subscription_rows())
def test_nrr_of_an_unchanged_cohort_is_exactly_100_percent(subscriptions: pd.DataFrame) -> None:
    # Every subscription active for ever since before the period: nothing moves.
    if subscriptions.empty:
        return
    steady = subscriptions.assign(start_date=date(2025, 1, 1), end_date=date(2030, 1, 1), status="active")
    result = retention(steady, Q3, CONFIG)
    assert result.nrr == 1.0 and result.grr == 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["this quarter", "next quarter", "last quarter", "this month", "last month", "q1", "q4", "ytd"])
    | st.builds(lambda y, q: f"{y}-Q{q}", st.integers(2000, 2099), st.integers(1, 4))
    | st.builds(lambda y: f"FY{y}", st.integers(2000, 2099))
    | st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2000, 2099), st.integers(1, 12)),
    st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31)),
    st.integers(1, 12),
)
def test_period_parsing_round_trips_through_the_key(text: str, today: date, start_month: int) -> None:
    period = parse_period(text, today=today, fiscal_year_start_month=start_month)
    assert parse_period(period.key, today=today, fiscal_year_start_month=start_month) == period
    assert period.start <= period.end
