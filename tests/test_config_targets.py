"""Targets written in revbot.toml or its CSV land in the targets table; a bad one stops the start."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.config_targets import apply_config_targets
from storage.config import ConfigError, parse_config
from storage.database import transaction
from storage.models import Target, Team, User

TODAY = date(2026, 11, 23)


@pytest.fixture
def org(engine: Engine) -> Engine:
    with transaction(engine) as session:
        session.add(Team(id=1, name="EMEA"))
        session.add(User(id=1, name="Oliver Schmidt", email="oliver@example.com", role="rep", team_id=1))
    return engine


def _targets(engine: Engine) -> list[tuple]:
    with transaction(engine) as session:
        rows = session.execute(
            select(Target.user_id, Target.team_id, Target.period_start, Target.period_end, Target.metric, Target.amount)
            .order_by(Target.id)
        )
        return [tuple(r) for r in rows]


def test_config_targets_are_written_for_the_fiscal_period(org: Engine) -> None:
    config = parse_config({
        "fiscal_year_start_month": 2,
        "targets": [
            {"team": "emea", "period": "2027-Q1", "amount": 2_500_000},
            {"email": "Oliver@Example.com", "period": "2027-Q1", "amount": 400_000},
        ],
    })
    assert apply_config_targets(org, config, today=TODAY) == 2
    # FY2027 starts in February 2026, so its first quarter is Feb–Apr 2026.
    assert _targets(org) == [
        (None, 1, date(2026, 2, 1), date(2026, 4, 30), "bookings", 2_500_000),
        (1, None, date(2026, 2, 1), date(2026, 4, 30), "bookings", 400_000),
    ]


def test_applying_again_updates_instead_of_duplicating(org: Engine) -> None:
    apply_config_targets(org, parse_config({"targets": [{"team": "EMEA", "period": "2026-Q4", "amount": 1}]}))
    apply_config_targets(org, parse_config({"targets": [{"team": "EMEA", "period": "2026-Q4", "amount": 2}]}))
    assert [row[-1] for row in _targets(org)] == [2]


def test_csv_targets_are_read(org: Engine, tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    path.write_text("email,team,period,amount\noliver@example.com,,2026-Q4,\"300,000\"\n,EMEA,FY2026,9000000\n")
    apply_config_targets(org, parse_config({"targets_csv": str(path)}), today=TODAY)
    assert [(row[0], row[1], row[5]) for row in _targets(org)] == [(1, None, 300_000), (None, 1, 9_000_000)]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"email": "nobody@example.com", "period": "2026-Q4", "amount": 1}, "no user with email 'nobody@example.com'"),
        ({"team": "Mars", "period": "2026-Q4", "amount": 1}, "no team named 'Mars'"),
        ({"team": "EMEA", "period": "Q9", "amount": 1}, "period 'Q9'"),
    ],
)
def test_a_bad_target_names_the_entry_and_writes_nothing(org: Engine, target: dict, message: str) -> None:
    good = {"team": "EMEA", "period": "2026-Q4", "amount": 5}
    with pytest.raises(ConfigError) as error:
        apply_config_targets(org, parse_config({"targets": [good, target]}), today=TODAY)
    assert "`targets[1]`" in str(error.value) and message in str(error.value)
    assert _targets(org) == []


def test_a_bad_csv_row_is_named(org: Engine, tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    path.write_text("email,team,period,amount\noliver@example.com,,2026-Q4,lots\n")
    with pytest.raises(ConfigError, match=r"row 2, column amount: 'lots' is not a number"):
        apply_config_targets(org, parse_config({"targets_csv": str(path)}), today=TODAY)
