"""`storage.customer_queries` against a real database (SQLite, or PostgreSQL with
REVBOT_TEST_DATABASE_URL): the SQL paths give what the DataFrame functions give on the same rows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from metrics.periods import parse_period
from metrics.retention import (
    arr_from_totals,
    arr_on,
    movements_from_totals,
    mrr_movements,
    mrr_on,
    renewal_risk,
    renewal_risks,
    retention,
    retention_from_totals,
)
from storage import customer_queries, queries
from storage.config import RevbotConfig
from storage.database import transaction
from storage.models import Account, CustomerHealth, Subscription, User
from storage.scope import Scope
from tests.metrics.test_retention import customers

TODAY = date(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=TODAY)
ANA, CY = 1, 2


def _store(engine: Engine, subscriptions: pd.DataFrame, health: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    with transaction(engine) as session:
        session.add_all(
            [User(id=ANA, name="Ana", email="ana@example.com"), User(id=CY, name="Cy", email="cy@example.com")]
        )
        session.flush()
        ids = sorted(set(subscriptions["account_id"]))
        # Odd accounts are Ana's, even ones Cy's.
        session.add_all([Account(id=i, name=f"Account {i}", owner_id=ANA if i % 2 else CY) for i in ids])
        session.flush()
        for row in subscriptions.to_dict("records"):
            fields = {
                k: row[k] for k in ("account_id", "product", "mrr", "currency", "start_date", "end_date", "status")
            }
            session.add(Subscription(**fields))
        session.add_all([CustomerHealth(**h) for h in health])


def _totals(engine: Engine, period, config: RevbotConfig, scope: Scope | None = None):  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        return customer_queries.retention_totals(
            session,
            scope,
            day_before=period.start - timedelta(days=1),
            end=period.end,
            arr_day=min(TODAY, period.end),
            period_start=period.start,
            config=config,
        )


def _frame(engine: Engine, scope: Scope | None = None) -> pd.DataFrame:
    with transaction(engine) as session:
        return queries.load_subscriptions(session, scope)


def test_retention_totals_equal_the_dataframe_path(engine: Engine, config: RevbotConfig) -> None:
    _store(engine, customers())
    totals = _totals(engine, Q3, config)
    frame = _frame(engine)
    assert movements_from_totals(totals, Q3, config) == mrr_movements(frame, Q3, config)
    assert retention_from_totals(totals, Q3) == retention(frame, Q3, config)
    assert arr_from_totals(totals) == arr_on(frame, min(TODAY, Q3.end), config) == 38_280.0
    # ARR on 15 Aug (today): (1,500 + 600 + 540 + 200 + 350) × 12; customer 3 leaves on 1 Sep


def test_retention_totals_keep_to_the_scope(engine: Engine, config: RevbotConfig) -> None:
    _store(engine, customers())
    ana = Scope(owner_ids=frozenset({ANA}), label="Ana")
    totals = _totals(engine, Q3, config, ana)
    # Ana has customers 1, 3 and 5: start 1,000 + 540, expansion 500, churn 540, reactivation 350.
    assert (totals.start_cents, totals.expansion_cents, totals.churn_cents, totals.reactivation_cents) == (
        154_000,
        50_000,
        54_000,
        35_000,
    )
    assert movements_from_totals(totals, Q3, config) == mrr_movements(_frame(engine, ana), Q3, config)


def test_half_cents_round_to_even_as_numpy_does(engine: Engine) -> None:
    # 1.25 and 1.75 at 0.5 are 0.625 and 0.875 exactly: to the even cent, 0.62 and 0.88.
    config = RevbotConfig(fx_rates={"XTS": 0.5})
    rows = pd.DataFrame(
        [
            {"account_id": 1, "product": "A", "mrr": 1.25, "currency": "XTS", "start_date": date(2026, 1, 1),
             "end_date": None, "status": "active"},
            {"account_id": 3, "product": "A", "mrr": 1.75, "currency": "XTS", "start_date": date(2026, 1, 1),
             "end_date": None, "status": "active"},
        ]
    )  # fmt: skip
    _store(engine, rows)
    totals = _totals(engine, Q3, config)
    assert totals.end_cents == 62 + 88
    assert mrr_on(_frame(engine), Q3.end, config) == 1.50


def test_a_currency_without_a_rate_is_left_to_the_dataframe_path(engine: Engine, config: RevbotConfig) -> None:
    rows = customers()
    rows.loc[0, "currency"] = "XTS"
    _store(engine, rows)
    assert _totals(engine, Q3, config) is None


def _health(account_id: int, day: date, **values: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "date": day,
        **{"health_score": 70, "usage": 50, "open_tickets": 1, "nps": 20, **values},
    }


def test_renewal_inputs_score_as_renewal_risk_does(engine: Engine, config: RevbotConfig) -> None:
    today = date(2026, 8, 15)
    subs = pd.DataFrame(
        [
            {"account_id": 1, "product": "A", "mrr": 1_000, "currency": "USD", "start_date": date(2025, 10, 1),
             "end_date": date(2026, 10, 1), "status": "active"},
            # 2 contracted from 2,000 (EUR) to 1,500 on 1 Jul: a 25% loss in the last 90 days
            {"account_id": 2, "product": "A", "mrr": 2_000, "currency": "EUR", "start_date": date(2025, 9, 1),
             "end_date": date(2026, 7, 1), "status": "superseded"},
            {"account_id": 2, "product": "A", "mrr": 1_500, "currency": "EUR", "start_date": date(2026, 7, 1),
             "end_date": date(2026, 9, 30), "status": "active"},
            {"account_id": 3, "product": "A", "mrr": 700, "currency": "USD", "start_date": date(2025, 9, 1),
             "end_date": date(2026, 9, 1), "status": "active"},  # no health data at all
            {"account_id": 4, "product": "A", "mrr": 900, "currency": "USD", "start_date": date(2025, 9, 1),
             "end_date": date(2027, 3, 1), "status": "active"},  # beyond the window
            {"account_id": 5, "product": "A", "mrr": 300, "currency": "GBP", "start_date": date(2025, 9, 1),
             "end_date": date(2026, 11, 1), "status": "active"},
        ]
    )  # fmt: skip
    health = [
        _health(1, date(2026, 5, 1), usage=90),  # before the 60-day usage window
        _health(1, date(2026, 7, 1), usage=80, health_score=40),
        _health(1, date(2026, 8, 10), usage=60, health_score=45, open_tickets=4, nps=-25),
        _health(1, date(2026, 8, 20), health_score=1),  # after today: ignored
        _health(2, date(2026, 6, 20), usage=None),  # the window's first snapshot, without usage
        _health(2, date(2026, 8, 1), nps=-60),
        # 5's latest snapshot lacks a score and tickets: they come from earlier snapshots
        _health(5, date(2026, 4, 1), health_score=30, open_tickets=3, usage=100),
        _health(5, date(2026, 8, 1), health_score=None, open_tickets=None, usage=40),
    ]
    _store(engine, subs, health)
    with transaction(engine) as session:
        due, readings = customer_queries.renewal_inputs(session, None, today=today, days=90, config=config)
        frame = queries.load_subscriptions(session, None)
        expected = renewal_risk(frame, queries.load_health(session), today=today, config=config, days=90)
    ranked = renewal_risks(due, readings, config=config)
    got = [(r.account_id, pd.Timestamp(r.renewal_date), r.arr, r.score, r.reasons) for r in ranked.top]
    assert got == [tuple(row) for row in expected[["account_id", "renewal_date", "arr", "score", "reasons"]].values]
    assert [r.account_id for r in ranked.top] == [1, 5, 2, 3]
    assert ranked.total_arr == sum(expected["arr"])


def test_renewal_inputs_keep_to_the_scope(engine: Engine, config: RevbotConfig) -> None:
    subs = customers()
    _store(engine, subs)
    cy = Scope(owner_ids=frozenset({CY}), label="Cy")
    with transaction(engine) as session:
        due, _ = customer_queries.renewal_inputs(session, cy, today=date(2026, 8, 15), days=365, config=config)
    assert [d.account_id for d in due] == [2, 4]  # 1, 3 and 5 are Ana's


@pytest.mark.parametrize("days", [1, 30])
def test_no_renewals_due(engine: Engine, config: RevbotConfig, days: int) -> None:
    _store(engine, customers())
    with transaction(engine) as session:
        due, readings = customer_queries.renewal_inputs(
            session, None, today=date(2026, 8, 15), days=days, config=config
        )
    assert (due, readings) == ([], {})
