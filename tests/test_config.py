"""revbot.toml validation: every invalid value is one line naming the key; the example parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from storage.config import ConfigError, RevbotConfig, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "revbot.example.toml"


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "missing.toml") == RevbotConfig()


def test_the_example_parses_and_keeps_the_defaults() -> None:
    config = load_config(EXAMPLE)
    defaults = RevbotConfig()
    assert config.stages == defaults.stages
    assert config.alerts == defaults.alerts and config.digests == defaults.digests and config.crm == defaults.crm
    assert [t.name for t in config.teams] == ["EMEA"]
    assert config.roles["dana.whitfield@acme-demo.example"] == "exec"


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for candidate in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names |= _field_names(candidate)
    return names


def test_the_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    written = set(re.findall(r"^#?[ \t]*\[*([a-z_.]+)\]*[ \t]*(?:=|#|$)", text, flags=re.M))
    words = {part for key in written for part in key.split(".")}
    missing = sorted(_field_names(RevbotConfig) - words)
    assert missing == []


@pytest.mark.parametrize(
    ("data", "key", "says"),
    [
        ({"timezone": "Mars/Olympus"}, "`timezone`", "unknown time zone 'Mars/Olympus'"),
        ({"fiscal_year_start_month": 13}, "`fiscal_year_start_month`", "less than or equal to 12"),
        ({"reporting_currency": "usd"}, "`reporting_currency`", "got 'usd'"),
        ({"fx_rates": {"eur": 1.1}}, "`fx_rates`", "three capital letters"),
        ({"fx_rates": {"EUR": 0}}, "`fx_rates`", "positive number"),
        ({"stages": [{"name": "Open", "probability": 150}]}, "`stages.0.probability`", "less than or equal to 100"),
        ({"stages": [{"name": "A", "probability": 10}]}, "`(top level)`", "one open, one won and one lost"),
        ({"stages": [{"name": "A", "probability": 1, "status": "maybe"}]}, "`stages.0.status`", "'maybe'"),
        ({"teams": [{"channel": "C1"}]}, "`teams.0.name`", "required key is missing"),
        ({"roles": {"a@b.example": "boss"}}, "`roles.a@b.example`", "'boss'"),
        ({"targets": [{"period": "2026-Q3", "amount": 5}]}, "`targets.0`", "exactly one of email or team"),
        ({"pipeline": {"stalled_after_days": 0}}, "`pipeline.stalled_after_days`", "greater than or equal to 1"),
        ({"renewal_risk": {"high_risk_score": 101}}, "`renewal_risk.high_risk_score`", "less than or equal to 100"),
        ({"freshness": {"stale_after_hours": -1}}, "`freshness.stale_after_hours`", "greater than 0"),
        ({"digests": {"monday": {"enabled": True}}}, "`digests.monday.cron`", "required key is missing"),
        ({"alerts": {"rules": {"stale_deal": {}}}}, "`alerts.rules`", "unknown rule 'stale_deal'"),
        ({"alerts": {"rules": {"big_deal": {"route": "email"}}}}, "`alerts.rules.big_deal.route`", "'email'"),
        ({"alerts": {"interval_minutes": 0}}, "`alerts.interval_minutes`", "greater than or equal to 1"),
        ({"crm": {"salesforce": {"overlap_minutes": -5}}}, "`crm.salesforce.overlap_minutes`", "greater than"),
        ({"colour": "blue"}, "`colour`", "unknown key"),
    ],
)
def test_each_invalid_value_names_its_key(data: dict, key: str, says: str) -> None:
    message = _error(data)
    assert message.startswith(f"revbot.toml: {key}: ")
    assert says in message


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "revbot.toml"
    path.write_text('timezone = "Europe/Berlin\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_emails_in_roles_are_case_insensitive() -> None:
    config = parse_config({"roles": {"Dana.Whitfield@ACME-demo.example": "exec"}})
    assert config.roles == {"dana.whitfield@acme-demo.example": "exec"}
