from __future__ import annotations

import pytest

from storage.config import RevbotConfig, parse_config

HUBSPOT_STAGES = [
    {"name": "Appointment Scheduled", "probability": 20},
    {"name": "Qualified To Buy", "probability": 40},
    {"name": "Presentation Scheduled", "probability": 60, "forecast_category": "Best Case"},
    {"name": "Decision Maker Bought-In", "probability": 80, "forecast_category": "Best Case"},
    {"name": "Contract Sent", "probability": 90, "forecast_category": "Commit"},
    {"name": "Closed Won", "probability": 100, "status": "won", "forecast_category": "Closed"},
    {"name": "Closed Lost", "probability": 0, "status": "lost", "forecast_category": "Omitted"},
]


@pytest.fixture
def hubspot_config() -> RevbotConfig:
    return parse_config({"stages": HUBSPOT_STAGES, "crm": {"hubspot": {"portal_id": "4455667"}}})
