"""MRR, movements, NRR/GRR, logo churn and renewal risk for five hand-built customers (Q3 2026)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from metrics.periods import parse_period
from metrics.retention import arr_on, mrr_movements, mrr_on, renewal_risk, retention
from storage.config import RevbotConfig
from tests.metrics.builders import subscription

Q3 = parse_period("2026-Q3", today=date(2026, 8, 15))


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        [
            # 1: expands 1,000 → 1,500 on 1 Aug (price change supersedes the old row)
            subscription(1, 1_000, date(2025, 1, 1), date(2026, 8, 1), "superseded"),
            subscription(1, 1_500, date(2026, 8, 1), date(2027, 1, 1)),
            # 2: two products; cancels one (400) on 15 Jul, keeps the other (600) → contraction, not churn
            subscription(2, 400, date(2025, 6, 1), date(2026, 7, 15), "canceled", product="Add-on"),
            subscription(2, 600, date(2025, 6, 1), date(2027, 6, 1)),
            # 3: cancels its only subscription (EUR 500 = 540 USD) on 1 Sep → churn
            subscription(3, 500, date(2025, 3, 1), date(2026, 9, 1), "canceled", currency="EUR"),
            # 4: brand new on 10 Jul
            subscription(4, 200, date(2026, 7, 10), date(2027, 7, 10)),
            # 5: churned in 2025, back on 1 Aug → reactivation
            subscription(5, 300, date(2024, 1, 1), date(2025, 5, 1), "canceled"),
            subscription(5, 350, date(2026, 8, 1), date(2027, 8, 1)),
        ]
    )


def test_mrr_and_arr_on_a_day(config: RevbotConfig) -> None:
    # 30 Jun: 1,000 + 400 + 600 + 540 = 2,540
    assert mrr_on(customers(), date(2026, 6, 30), config) == 2_540.0
    # 31 Jul: 1,000 + 600 + 540 + 200 = 2,340 (the add-on ended 15 Jul)
    assert mrr_on(customers(), date(2026, 7, 31), config) == 2_340.0
    assert arr_on(customers(), date(2026, 6, 30), config) == 30_480.0


def test_mrr_movements(config: RevbotConfig) -> None:
    moves = mrr_movements(customers(), Q3, config)
    assert moves.start_mrr == 2_540.0
    assert moves.new == 200.0
    assert moves.expansion == 500.0
    assert moves.contraction == 400.0
    assert moves.churn == 540.0
    assert moves.reactivation == 350.0
    # end (30 Sep): 1,500 + 600 + 200 + 350 = 2,650 = 2,540 + 200 + 500 − 400 − 540 + 350
    assert moves.end_mrr == 2_650.0
    assert moves.net_new == 110.0
    assert (moves.new_customers, moves.churned_customers, moves.start_customers) == (1, 1, 3)


def test_nrr_grr_and_logo_churn_exclude_new_and_reactivated(config: RevbotConfig) -> None:
    result = retention(customers(), Q3, config)
    # cohort = customers 1, 2, 3 with 2,540 at the start; they end with 1,500 + 600 + 0 = 2,100
    assert result.nrr == 2_100 / 2_540
    # GRR caps each at its start: 1,000 + 600 + 0 = 1,600
    assert result.grr == 1_600 / 2_540
    assert result.logo_churn == 1 / 3


def test_renewal_risk_score_and_reasons(config: RevbotConfig) -> None:
    subs = pd.DataFrame(
        [
            subscription(1, 1_000, date(2025, 10, 1), date(2026, 10, 1)),  # renews in 47 days
            subscription(2, 500, date(2025, 12, 1), date(2026, 12, 31)),  # beyond 90 days
        ]
    )
    health = pd.DataFrame(
        [
            {"account_id": 1, "date": date(2026, 7, 1), "health_score": 80, "usage": 80, "open_tickets": 0, "nps": 40},
            {
                "account_id": 1,
                "date": date(2026, 8, 10),
                "health_score": 40,
                "usage": 60,
                "open_tickets": 4,
                "nps": -25,
            },
        ]
    )
    risk = renewal_risk(subs, health, today=date(2026, 8, 15), config=config)
    assert risk["account_id"].tolist() == [1]
    row = risk.iloc[0]
    assert row["renewal_date"] == pd.Timestamp(2026, 10, 1)
    assert row["arr"] == 12_000.0
    # health (100−40)/100 = 0.6 × 0.35 = 0.21; usage 80 → 60 = 0.25 × 0.25 = 0.0625;
    # tickets 4/5 = 0.8 × 0.15 = 0.12; NPS (50+25)/150 = 0.5 × 0.15 = 0.075; contraction 0 × 0.10
    assert row["score"] == 46.8  # 100 × 0.4675, rounded to one decimal
    assert row["reasons"] == ["health score 40/100", "4 open support tickets", "NPS -25", "usage down 25% in 40 days"]


def test_renewal_without_health_data_scores_zero_and_says_so(config: RevbotConfig) -> None:
    subs = pd.DataFrame([subscription(1, 1_000, date(2026, 8, 1), date(2026, 9, 1))])
    risk = renewal_risk(subs, pd.DataFrame(), today=date(2026, 8, 15), config=config)
    assert risk.iloc[0]["score"] == 0.0
    assert risk.iloc[0]["reasons"] == ["no health data"]
