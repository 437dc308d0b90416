"""An org with no data: every metric answers zero or n/a, never an error."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine

from metrics.movement import pipeline_bridge
from metrics.periods import parse_period
from metrics.pipeline import by_stage_from_aggregate, pipeline_summary
from metrics.retention import mrr_movements, mrr_on, renewal_risk, retention
from metrics.revenue import attainment, forecast, forecast_from_aggregate, target_for_period
from metrics.velocity import median_days_in_stage, stage_conversion, velocity
from metrics.volume import by_source, target_account_penetration
from storage import queries
from storage.config import RevbotConfig
from storage.database import transaction
from storage.scope import Scope

TODAY = date(2026, 8, 15)
Q3 = parse_period("", today=TODAY)


def test_every_metric_on_empty_frames(config: RevbotConfig) -> None:
    empty = pd.DataFrame()
    summary = pipeline_summary(empty, period=Q3, config=config, today=TODAY)
    assert (summary.total, summary.weighted, summary.count, summary.closing_in_period) == (0.0, 0.0, 0, 0.0)
    assert summary.by_stage.empty and summary.past_due.empty and summary.stalled.empty
    result = attainment(empty, period=Q3, target=None, config=config, today=TODAY)
    assert (result.closed_won, result.attainment, result.coverage) == (0.0, None, None)
    assert forecast(empty, Q3, config=config).pipeline == 0.0
    assert target_for_period(empty, Q3) is None
    speed = velocity(empty, period=Q3, config=config)
    assert (speed.win_rate_by_count, speed.sales_velocity_per_day, speed.cycle_median_days) == (None, None, None)
    assert stage_conversion(empty, config)["conversion"].isna().all()
    assert median_days_in_stage(empty) == {}
    bridge = pipeline_bridge(empty, empty, start=date(2026, 8, 8), end=TODAY, config=config, period=Q3)
    assert (bridge.start, bridge.end, bridge.balances) == (0.0, 0.0, True)
    assert mrr_on(empty, TODAY, config) == 0.0
    assert mrr_movements(empty, Q3, config).net_new == 0.0
    assert retention(empty, Q3, config).nrr is None
    assert renewal_risk(empty, empty, today=TODAY, config=config).empty
    assert target_account_penetration(empty, empty, config=config).empty
    assert by_source(empty, period=Q3, config=config).empty


def test_loaders_and_aggregates_on_an_empty_database(engine: Engine, config: RevbotConfig) -> None:
    with transaction(engine) as session:
        everyone = Scope.everyone()
        deals = queries.load_pipeline_deals(session, everyone, Q3)
        assert deals.empty and list(deals.columns) == list(queries.DEAL_COLUMNS)
        summary = pipeline_summary(deals, period=Q3, config=config, today=TODAY)
        assert summary.total == 0.0
        assert by_stage_from_aggregate(queries.pipeline_by_stage_sql(session, everyone), config).empty
        assert forecast_from_aggregate(queries.forecast_sql(session, everyone, Q3), Q3, config=config).commit == 0.0
        assert queries.load_history(session, everyone).empty
        assert queries.load_subscriptions(session, None).empty
        assert queries.find_deals(session, everyone, "acme").empty
        assert queries.find_team(session, "emea") is None
