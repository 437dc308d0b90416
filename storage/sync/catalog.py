"""The stage list a sync validates against: the configured stages (revbot.toml), optionally
extended by stages the CRM itself describes (Salesforce OpportunityStage, HubSpot pipelines)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage.config import RevbotConfig

FORECAST_ALIASES = {
    "pipeline": "Pipeline",
    "best case": "Best Case",
    "bestcase": "Best Case",
    "commit": "Commit",
    "closed": "Closed",
    "closed won": "Closed",
    "omitted": "Omitted",
    "not forecasted": "Omitted",
    "omit": "Omitted",
}


@dataclass(frozen=True)
class StageInfo:
    name: str
    probability: float
    is_closed: bool
    is_won: bool
    forecast_category: str


def stage_catalog(config: RevbotConfig, extra: Iterable[StageInfo] = ()) -> dict[str, StageInfo]:
    """Stages keyed by case-folded name. Configured stages win over CRM-described ones."""
    catalog = {
        stage.name.casefold(): StageInfo(
            name=stage.name,
            probability=stage.probability,
            is_closed=stage.status != "open",
            is_won=stage.status == "won",
            forecast_category=stage.forecast_category,
        )
        for stage in config.stages
    }
    for info in extra:
        catalog.setdefault(info.name.casefold(), info)
    return catalog
