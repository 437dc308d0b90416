"""`metrics.retention.renewal_risks` scores and orders renewals exactly as scoring each renewal's
`_factors` and one stable sort by (-score, -ARR) do: the same floats, bit for bit, including the
corner cases (no data, zero weights, a usage reading of 0 or -0.0, ties)."""

from __future__ import annotations

import math
import random
from datetime import date

import pytest

from metrics.retention import _factors, _riskiest_first, _scorer, renewal_risks
from storage.config import RenewalRiskConfig, RenewalRiskWeights, RevbotConfig
from storage.customer_queries import DueRenewal, HealthReadings

FACTORS = ("health", "usage_trend", "open_tickets", "nps", "contraction")


def _reference_score(renewal: DueRenewal, health: HealthReadings | None, weights: RenewalRiskWeights) -> float:
    """The score from the factors, as `renewal_risk` weighs them."""
    factors = _factors(renewal, health)
    weight_sum = sum(getattr(weights, name) for name in factors)
    if not factors or weight_sum == 0:
        return 0.0
    return round(100 * sum(getattr(weights, name) * risk for name, (risk, _) in factors.items()) / weight_sum, 1)


def _random_case(rng: random.Random, account_id: int) -> tuple[DueRenewal, HealthReadings | None]:
    def maybe(values: list) -> object:  # type: ignore[type-arg]
        return rng.choice([None, *values])

    renewal = DueRenewal(
        account_id,
        date(2026, 9, 1),
        rng.choice([0, 1, 99_999, 500_000]),
        rng.choice([0, 1, 100_000, 500_000, 10**9]),
    )
    if rng.random() < 0.1:
        return renewal, None
    usage = [0.0, -0.0, 1.0, 37.5, 80.0, 100.0, 150.0, -20.0]
    return renewal, HealthReadings(
        account_id,
        maybe([0.0, 12.5, 45.0, 59.9, 100.0, 130.0, -5.0]),  # type: ignore[arg-type]
        maybe([0, 1, 2, 5, 11]),  # type: ignore[arg-type]
        maybe([-100, -7, 0, 49, 50, 100]),  # type: ignore[arg-type]
        maybe(usage),  # type: ignore[arg-type]
        maybe(usage),  # type: ignore[arg-type]
        maybe([0, 14, 56]),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "weights",
    [
        RenewalRiskWeights(),
        RenewalRiskWeights(health=0, usage_trend=0, open_tickets=0, nps=0, contraction=0),
        RenewalRiskWeights(health=0.3, usage_trend=0, open_tickets=0.7, nps=0, contraction=0.1),
        RenewalRiskWeights(health=1 / 3, usage_trend=0.1, open_tickets=0.2, nps=2.5, contraction=0.45),
    ],
)
def test_scores_are_the_factors_weighted_bit_for_bit(weights: RenewalRiskWeights) -> None:
    rng = random.Random(7)
    score = _scorer(weights)
    for account_id in range(5000):
        renewal, health = _random_case(rng, account_id)
        fast, reference = score(renewal, health), _reference_score(renewal, health, weights)
        assert math.copysign(1, fast) == math.copysign(1, reference) and fast == reference, (renewal, health)


def test_riskiest_first_is_one_stable_sort_by_score_then_arr() -> None:
    rng = random.Random(11)
    for _ in range(300):
        n = rng.randint(0, 80)
        scores = [rng.choice([0.0, -0.0, 1.5, 20.0, 33.3, 70.1]) for _ in range(n)]
        arrs = [rng.choice([0.0, 12.0, 1200.5, 99.99]) for _ in range(n)]
        assert _riskiest_first(scores, arrs) == sorted(range(n), key=lambda i: (-scores[i], -arrs[i]))


def test_a_nan_score_keeps_the_tuple_sort() -> None:
    scores, arrs = [1.0, math.nan, 3.0, 2.0], [5.0, 1.0, 1.0, 9.0]
    keys = [(-s, -a) for s, a in zip(scores, arrs, strict=True)]
    assert _riskiest_first(scores, arrs) == sorted(range(4), key=keys.__getitem__)


def test_ranked_total_and_top_follow_the_order() -> None:
    rng = random.Random(3)
    cases = [_random_case(rng, account_id) for account_id in range(400)]
    due = [renewal for renewal, _ in cases]
    readings = {renewal.account_id: health for renewal, health in cases if health is not None}
    config = RevbotConfig(renewal_risk=RenewalRiskConfig())
    ranked = renewal_risks(due, readings, config=config, limit=10)
    weights = config.renewal_risk.weights
    scores = [_reference_score(r, readings.get(r.account_id), weights) for r in due]
    arrs = [r.mrr_cents_now * 12 / 100 for r in due]
    order = sorted(range(len(due)), key=lambda i: (-scores[i], -arrs[i]))
    assert ranked.count == len(due)
    assert ranked.total_arr == sum(arrs[i] for i in order)
    assert [(risk.account_id, risk.score) for risk in ranked.top] == [
        (due[i].account_id, scores[i]) for i in order[:10]
    ]
