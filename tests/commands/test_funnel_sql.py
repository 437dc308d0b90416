"""/funnel's SQL path (`commands.funnel.funnel_numbers`) shows exactly what the DataFrame path
(every pipeline deal and stage change loaded, then `stage_conversion`, `time_in_stage`, `velocity`,
`by_source`) computes, on the hand-built org, for a rep, a team and everyone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from commands.funnel import funnel_numbers
from commands.pipeline import deal_rows
from commands.registry import CommandContext
from metrics.periods import Period, parse_period
from metrics.velocity import stage_conversion, time_in_stage, velocity
from metrics.volume import by_source
from storage.config import RevbotConfig
from storage.queries import load_history, load_pipeline_deals
from storage.scope import Scope
from tests.commands.conftest import CALLERS, DANA, FOX, NOW, TODAY

SCOPES = {
    "rep": Scope.of_owners("your deals", {DANA}),
    "team": Scope.of_owners("EMEA", {DANA, FOX}),
    "everyone": Scope.everyone(),
    "nobody": Scope.of_owners("nobody", set()),
}


def frames_path(session: Session, scope: Scope, period: Period, config: RevbotConfig) -> dict[str, Any]:
    deals = load_pipeline_deals(session, scope, period)
    history = load_history(session, scope, until=period.end_exclusive_datetime, fields=["stage"])
    stays = time_in_stage(history, deals=deals)
    medians = stays.groupby("stage")["days"].median().to_dict() if len(stays) else {}
    stages = [
        {**row, "median_days": medians.get(row["stage"])}
        for row in deal_rows(stage_conversion(history, config, deals=deals))
        if row["reached"] or row["stage"] in medians
    ]
    sources = deal_rows(by_source(deals, period=period, config=config))
    return {"stages": stages, "speed": velocity(deals, period=period, config=config), "sources": sources}


@pytest.mark.parametrize("scope_name", sorted(SCOPES))
@pytest.mark.parametrize("period_text", ["this quarter", "last quarter", "ytd", "FY2025"])
def test_sql_path_equals_frames_path(session: Session, config: RevbotConfig, scope_name: str, period_text: str) -> None:
    scope = SCOPES[scope_name]
    period = parse_period(period_text, today=TODAY)
    ctx = CommandContext(session, config, CALLERS["alvin"], scope, TODAY, NOW)
    numbers = funnel_numbers(ctx, period)
    expected = frames_path(session, scope, period, config)
    assert numbers.stages == expected["stages"]
    assert numbers.speed == expected["speed"]
    assert numbers.sources == expected["sources"]
