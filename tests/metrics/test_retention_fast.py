"""The metrics behind the SQL paths of /retention and /renewals, from hand-worked per-account values
(`storage.customer_queries` gives these; tests/metrics/test_retention_sql.py checks it against the
DataFrame functions on a database)."""

from __future__ import annotations

from datetime import date

from metrics.periods import parse_period
from metrics.retention import (
    arr_from_totals,
    movements_from_totals,
    renewal_risks,
    retention_from_totals,
)
from storage.config import RevbotConfig
from storage.customer_queries import DueRenewal, HealthReadings, RetentionTotals

Q3 = parse_period("2026-Q3", today=date(2026, 8, 15))

# The five customers of tests/metrics/test_retention.py in Q3 2026, in cents: start 2,540 (1,000 +
# 400 + 600 + 540), end 2,650; new 200 (customer 4), reactivation 350 (5), expansion 500 (1),
# contraction 400 (2), churn 540 (3); the cohort (1, 2, 3) keeps min(start, end) = 1,000 + 600 + 0
# and ends with 1,500 + 600 + 0.
Q3_TOTALS = RetentionTotals(
    start_cents=254_000,
    end_cents=265_000,
    arr_day_cents=265_000,
    new_cents=20_000,
    new_customers=1,
    reactivation_cents=35_000,
    expansion_cents=50_000,
    contraction_cents=40_000,
    churn_cents=54_000,
    churned_customers=1,
    start_customers=3,
    kept_cents=160_000,
    cohort_end_cents=210_000,
)


def test_movements_from_totals_are_in_the_reporting_currency(config: RevbotConfig) -> None:
    moves = movements_from_totals(Q3_TOTALS, Q3, config)
    assert (moves.start_mrr, moves.end_mrr) == (2_540.0, 2_650.0)
    assert (moves.new, moves.expansion, moves.contraction, moves.churn, moves.reactivation) == (
        200.0,
        500.0,
        400.0,
        540.0,
        350.0,
    )
    assert moves.net_new == 110.0  # 2,650 − 2,540
    assert (moves.new_customers, moves.churned_customers, moves.start_customers) == (1, 1, 3)


def test_retention_from_totals_covers_the_starting_cohort_only() -> None:
    result = retention_from_totals(Q3_TOTALS, Q3)
    assert result.nrr == 2_100 / 2_540
    assert result.grr == 1_600 / 2_540
    assert result.logo_churn == 1 / 3


def test_retention_from_empty_totals_is_not_available() -> None:
    empty = RetentionTotals(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    result = retention_from_totals(empty, Q3)
    assert (result.nrr, result.grr, result.logo_churn) == (None, None, None)


def test_arr_from_totals_is_twelve_times_the_mrr() -> None:
    assert arr_from_totals(Q3_TOTALS) == 31_800.0  # 2,650 × 12


def test_renewal_risk_score_and_reasons(config: RevbotConfig) -> None:
    # As in test_retention.py: health 40, usage 80 → 60 over 40 days, 4 tickets, NPS −25, no contraction.
    due = [DueRenewal(1, date(2026, 10, 1), 100_000, 100_000)]
    readings = {1: HealthReadings(1, 40.0, 4, -25, 80.0, 60.0, 40)}
    ranked = renewal_risks(due, readings, config=config)
    (risk,) = ranked.top
    assert risk.arr == 12_000.0
    # 0.6 × 0.35 + 0.25 × 0.25 + 0.8 × 0.15 + 0.5 × 0.15 + 0 × 0.10 = 0.4675 → 46.8
    assert risk.score == 46.8
    assert risk.reasons == ["health score 40/100", "4 open support tickets", "NPS -25", "usage down 25% in 40 days"]


def test_renewal_without_health_data_scores_zero_and_says_so(config: RevbotConfig) -> None:
    ranked = renewal_risks([DueRenewal(1, date(2026, 9, 1), 100_000, 0)], {}, config=config)
    assert ranked.top[0].score == 0.0
    assert ranked.top[0].reasons == ["no health data"]


def test_contraction_alone_scores_its_share_of_mrr_lost(config: RevbotConfig) -> None:
    # 1,000 → 800 in 90 days: 20% lost; the only factor with data, so the score is 100 × 0.2.
    ranked = renewal_risks([DueRenewal(1, date(2026, 9, 1), 80_000, 100_000)], {}, config=config)
    assert ranked.top[0].score == 20.0
    assert ranked.top[0].reasons == ["MRR down 20% in the last 90 days"]


def test_ties_go_to_larger_arr_then_account_order(config: RevbotConfig) -> None:
    due = [
        DueRenewal(1, date(2026, 9, 1), 10_000, 0),
        DueRenewal(2, date(2026, 9, 2), 30_000, 0),
        DueRenewal(3, date(2026, 9, 3), 10_000, 0),
        DueRenewal(4, date(2026, 9, 4), 10_000, 0),
    ]
    readings = {4: HealthReadings(4, 50.0, None, None, None, None, None)}  # health risk 0.5 → 50.0
    ranked = renewal_risks(due, readings, config=config)
    assert [r.account_id for r in ranked.top] == [4, 2, 1, 3]
    assert [r.score for r in ranked.top] == [50.0, 0.0, 0.0, 0.0]


def test_limit_keeps_the_riskiest_but_counts_and_sums_them_all(config: RevbotConfig) -> None:
    due = [DueRenewal(i, date(2026, 9, i), 100 * i, 0) for i in range(1, 6)]  # $1 … $5 MRR
    ranked = renewal_risks(due, {}, config=config, limit=2)
    assert [r.account_id for r in ranked.top] == [5, 4]
    assert ranked.count == 5
    assert ranked.total_arr == 180.0  # (5 + 4 + 3 + 2 + 1) × 12
