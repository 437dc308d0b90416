"""Attainment, coverage, run rate and the cumulative forecast, worked out by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd

from metrics.periods import parse_period
from metrics.revenue import attainment, attainment_by_team, forecast, target_for_period
from storage.config import RevbotConfig
from tests.metrics.builders import deal, deals

TODAY = date(2026, 8, 15)  # day 46 of Q3's 92 days
Q3 = parse_period("2026-Q3", today=TODAY)


def quarter_book():
    return deals(
        deal(1, 30_000, "Closed Won", close_date=date(2026, 7, 10)),
        deal(2, 10_000, "Closed Won", close_date=date(2026, 8, 14), currency="GBP"),  # 12,700 USD
        deal(3, 99_000, "Closed Won", close_date=date(2026, 6, 30)),  # last quarter: not counted
        deal(4, 8_000, "Closed Lost", close_date=date(2026, 8, 2)),
        deal(5, 20_000, "Negotiation", close_date=date(2026, 9, 1)),  # Commit
        deal(6, 15_000, "Proposal", close_date=date(2026, 9, 30)),  # Best Case
        deal(7, 5_000, "Prospecting", close_date=date(2026, 9, 5)),  # Pipeline
        deal(8, 4_000, "Prospecting", close_date=date(2026, 9, 5), forecast_category="Omitted"),
        deal(9, 50_000, "Negotiation", close_date=date(2026, 10, 1)),  # Q4: outside
    )


def test_attainment_gap_coverage_and_run_rate(config: RevbotConfig) -> None:
    result = attainment(quarter_book(), period=Q3, target=100_000, config=config, today=TODAY)
    assert result.closed_won == 42_700.0  # 30,000 + 12,700
    assert result.closed_won_count == 2
    assert result.attainment == 0.427
    assert result.gap == 57_300.0
    # open and closing in Q3: 20,000 + 15,000 + 5,000 + 4,000 (omitted deals are still open pipeline)
    assert result.open_in_period == 44_000.0
    assert result.coverage == 44_000 / 57_300
    assert result.run_rate_projection == 85_400.0  # 42,700 / 46 × 92


def test_target_met_has_no_gap_and_no_coverage(config: RevbotConfig) -> None:
    result = attainment(quarter_book(), period=Q3, target=40_000, config=config, today=TODAY)
    assert result.gap == 0.0
    assert result.coverage is None
    assert result.attainment == 42_700 / 40_000


def test_no_target_means_na(config: RevbotConfig) -> None:
    result = attainment(quarter_book(), period=Q3, target=None, config=config, today=TODAY)
    assert (result.attainment, result.gap, result.coverage) == (None, None, None)
    assert attainment(quarter_book(), period=Q3, target=0, config=config, today=TODAY).attainment is None


def test_run_rate_is_na_before_the_period_starts(config: RevbotConfig) -> None:
    q4 = parse_period("2026-Q4", today=TODAY)
    assert attainment(quarter_book(), period=q4, target=1, config=config, today=TODAY).run_rate_projection is None


def test_forecast_is_cumulative(config: RevbotConfig) -> None:
    result = forecast(quarter_book(), Q3, config=config)
    assert result.closed == 42_700.0
    assert result.commit == 62_700.0  # + 20,000 Negotiation
    assert result.best_case == 77_700.0  # + 15,000 Proposal
    assert result.pipeline == 82_700.0  # + 5,000 Prospecting; the Omitted 4,000 is left out


def test_target_for_period_prefers_exact_then_inside_then_prorates() -> None:
    targets = pd.DataFrame(
        [
            # rep 1: an annual target and a Q3 one → the Q3 one
            {
                "user_id": 1,
                "team_id": None,
                "period_start": date(2026, 1, 1),
                "period_end": date(2026, 12, 31),
                "amount": 400_000,
            },
            {
                "user_id": 1,
                "team_id": None,
                "period_start": date(2026, 7, 1),
                "period_end": date(2026, 9, 30),
                "amount": 90_000,
            },
            # rep 2: only annual → 365,000 × 92 / 365 = 92,000
            {
                "user_id": 2,
                "team_id": None,
                "period_start": date(2026, 1, 1),
                "period_end": date(2026, 12, 31),
                "amount": 365_000,
            },
            # rep 3: monthly targets inside Q3 are summed: 10,000 + 11,000
            {
                "user_id": 3,
                "team_id": None,
                "period_start": date(2026, 7, 1),
                "period_end": date(2026, 7, 31),
                "amount": 10_000,
            },
            {
                "user_id": 3,
                "team_id": None,
                "period_start": date(2026, 8, 1),
                "period_end": date(2026, 8, 31),
                "amount": 11_000,
            },
        ]
    )
    assert target_for_period(targets, Q3) == 90_000 + 92_000 + 21_000
    assert target_for_period(targets.iloc[0:0], Q3) is None


def test_a_teams_own_target_wins_else_its_members_targets_add_up(config: RevbotConfig) -> None:
    users = pd.DataFrame(
        [
            {"id": 1, "team_id": 10, "team_name": "EMEA"},
            {"id": 2, "team_id": 20, "team_name": "NA East"},
            {"id": 3, "team_id": 20, "team_name": "NA East"},
            {"id": 4, "team_id": 30, "team_name": "APAC"},
            {"id": 5, "team_id": None, "team_name": None},
        ]
    )

    def target(user_id: int | None, team_id: int | None, amount: float) -> dict[str, object]:
        return {"user_id": user_id, "team_id": team_id, "period_start": date(2026, 7, 1),
                "period_end": date(2026, 9, 30), "amount": amount}  # fmt: skip

    targets = pd.DataFrame(
        [target(1, None, 40_000), target(None, 10, 100_000), target(2, None, 30_000), target(3, None, 25_000),
         target(5, None, 1_000_000)]  # fmt: skip
    )
    rollup = pd.DataFrame(
        [{"owner_id": 2, "currency": "USD", "amount": 11_000, "is_closed": True, "is_won": True, "in_period": True}]
    )
    table = attainment_by_team(rollup, users, targets, period=Q3, config=config, today=date(2026, 8, 15))
    by_team = {row["team_name"]: row for row in table.to_dict("records")}
    assert by_team["EMEA"]["target"] == 100_000  # its own target, not rep 1's
    assert by_team["NA East"]["target"] == 55_000 and by_team["NA East"]["gap"] == 44_000
    assert by_team["APAC"]["target"] is None
    assert set(by_team) == {"EMEA", "NA East", "APAC"}  # someone without a team is in no team's row
