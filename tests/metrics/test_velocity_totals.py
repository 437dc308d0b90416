"""The funnel from small aggregates (`storage.funnel_queries` rows) gives the numbers the
DataFrame functions give: velocity from totals, conversion from reach masks, stays from arrays."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from metrics.periods import parse_period
from metrics.velocity import (
    funnel_from_changes,
    median_days_from_stays,
    stage_conversion,
    stage_conversion_from_reach,
    time_in_stage,
    velocity_from_totals,
)
from storage.config import ConfigError, RevbotConfig
from tests.metrics.builders import change, deal, deals

Q3 = parse_period("2026-Q3", today=date(2026, 8, 15))
TOTAL_COLUMNS = ["source", "currency"] + [
    f"{b}_{k}" for b in ("open", "created", "won", "lost") for k in ("count", "cents")
]


def totals(*rows: dict[str, object]) -> pd.DataFrame:
    filled = [{name: row.get(name, 0) for name in TOTAL_COLUMNS} for row in rows]
    return pd.DataFrame(filled, columns=TOTAL_COLUMNS)


def test_velocity_from_totals_matches_the_hand_worked_book(config: RevbotConfig) -> None:
    # The book of test_velocity.test_win_rate_deal_size_cycle_and_velocity: won 30,000 (70 days) and
    # 10,000 (30 days), lost 40,000, four open deals.
    rows = totals(
        {"source": "Inbound", "currency": "USD", "won_count": 2, "won_cents": 4_000_000, "open_count": 4},
        {"source": None, "currency": "USD", "lost_count": 1, "lost_cents": 4_000_000},
    )
    result = velocity_from_totals(rows, [(70, 1), (30, 1)], period=Q3, config=config)
    assert (result.won_count, result.lost_count, result.open_count) == (2, 1, 4)
    assert (result.win_rate_by_count, result.win_rate_by_value) == (2 / 3, 0.5)
    assert result.average_deal_size == 20_000.0
    assert (result.cycle_median_days, result.cycle_mean_days) == (50.0, 50.0)
    assert result.sales_velocity_per_day == round(4 * (2 / 3) * 20_000 / 50, 2)


def test_cycle_histogram_clips_negative_days_and_takes_the_middle_value(config: RevbotConfig) -> None:
    rows = totals({"source": "Inbound", "currency": "USD", "won_count": 3, "won_cents": 300})
    # -5 counts as 0: values 0, 10, 10 → median 10, mean 20 / 3
    result = velocity_from_totals(rows, [(-5, 1), (10, 2)], period=Q3, config=config)
    assert result.cycle_median_days == 10.0
    assert result.cycle_mean_days == 20 / 3


def test_velocity_from_totals_refuses_a_currency_without_a_rate(config: RevbotConfig) -> None:
    rows = totals({"source": "Inbound", "currency": "XYZ", "open_count": 1, "open_cents": 100})
    with pytest.raises(ConfigError, match="no rate for XYZ"):
        velocity_from_totals(rows, [], period=Q3, config=config)


def test_conversion_from_reach_masks(config: RevbotConfig) -> None:
    # Stages: Prospecting=bit 0, Qualification=1, Needs Analysis=2, Proposal=3, Negotiation=4,
    # Closed Won=5, Closed Lost=6. Two deals went Prospecting → Qualification → Closed Lost (lost
    # does not count as moving on), one went Prospecting → Qualification → Proposal → Closed Won.
    reach = [(0b1000011, 2), (0b0101011, 1)]
    table = stage_conversion_from_reach(reach, config).set_index("stage")
    assert table.loc["Prospecting", ["reached", "advanced"]].tolist() == [3, 3]
    assert table.loc["Qualification", ["reached", "advanced"]].tolist() == [3, 1]
    assert table.loc["Proposal", "conversion"] == 1.0
    assert table.loc["Negotiation", "conversion"] is None


def test_median_of_stays_in_milliseconds() -> None:
    day = 86_400_000
    stays = pd.DataFrame({"stage": ["Proposal", "Proposal", "Qualification"], "millis": [2 * day, 5 * day, day // 2]})
    assert median_days_from_stays(stays) == {"Proposal": 3.5, "Qualification": 0.5}


def _numeric(history: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """History rows as `storage.funnel_queries.stage_change_rows_sql` returns them."""
    names = [s.name for s in config.stages]
    code = {name: i for i, name in enumerate(names)}
    stage_rows = history[history["field"] == "stage"].reset_index(drop=True)
    return pd.DataFrame(
        {
            "deal_id": stage_rows["deal_id"],
            "id": stage_rows.index,
            "old": stage_rows["old_value"].map(lambda v: code.get(v, len(names))),
            "new": stage_rows["new_value"].map(lambda v: code.get(v, len(names))),
            "at": stage_rows["changed_at"].map(lambda t: int(pd.Timestamp(t).value // 1_000_000)),
        }
    )


def _history() -> pd.DataFrame:
    return deals(
        change(1, "stage", "Prospecting", "Qualification", datetime(2026, 7, 5)),
        change(1, "stage", "Qualification", "Proposal", datetime(2026, 7, 15, 6)),
        change(1, "stage", "Proposal", "Closed Won", datetime(2026, 7, 25)),
        change(2, "stage", "Prospecting", "Qualification", datetime(2026, 7, 11)),
        change(2, "stage", "Qualification", "Closed Lost", datetime(2026, 8, 1)),
        change(3, "stage", "Unknown stage", "Prospecting", datetime(2026, 7, 2)),
        change(2, "amount", "100", "200", datetime(2026, 7, 12)),
    )


def test_changes_give_the_same_conversion_and_medians_as_the_frames(config: RevbotConfig) -> None:
    # Deal 3 has a change from a stage revbot does not know; deal 4 is a pipeline deal with no changes.
    book = deals(
        deal(1, 1, "Closed Won", created_at=datetime(2026, 7, 1)),
        deal(2, 1, "Closed Lost", created_at=datetime(2026, 7, 1, 12)),
        deal(4, 1, "Needs Analysis", created_at=datetime(2026, 7, 1)),
    )
    names = [s.name for s in config.stages]
    pipeline = pd.DataFrame(
        {
            "id": book["id"],
            "stage": book["stage"].map(names.index),
            "created": book["created_at"].map(lambda t: float(pd.Timestamp(t).value // 1_000_000)),
        }
    )
    reach, stays = funnel_from_changes(_numeric(_history(), config), pipeline, config)
    expected = stage_conversion(_history(), config, deals=book)
    pd.testing.assert_frame_equal(stage_conversion_from_reach(reach, config), expected)
    # Prospecting: 4 (Jul 1 → 5) and 9.5 days (Jul 1 noon → 11); Qualification: 10.25 and 21;
    # Proposal: 9.75. Deal 3's first stay has no start (not a pipeline deal), like in the frames.
    medians = median_days_from_stays(stays)
    assert medians == {"Prospecting": 6.75, "Qualification": 15.625, "Proposal": 9.75}
    assert medians == time_in_stage(_history(), deals=book).groupby("stage")["days"].median().to_dict()
