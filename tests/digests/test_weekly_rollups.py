"""The weekly digest from per-owner SQL groups: the same numbers and lists as the row-by-row
metrics, and a team cut from the org's groups reads like the team's own load."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from commands.rendering import render
from digests import rollups
from digests.monday import build_monday
from digests.team import build_team, team_members, team_recipients
from digests.templates import digest_environment
from digests.weekly import load_weekly_org
from metrics.frames import prepare_deals
from metrics.pipeline import stage_age_medians, stalled_deals
from storage.config import RevbotConfig
from storage.database import session_factory
from tests.bot.org import seed_fixture_org
from tests.digests.helpers import digest_config

TODAY = date(2026, 11, 23)


def _open_deals(count: int = 40) -> pd.DataFrame:
    """Open deals in three stages, idle and slow in various ways, several of equal amount."""
    rng = np.random.default_rng(7)
    now = datetime(2026, 11, 23, 9, 0)
    return pd.DataFrame({
        "id": range(1, count + 1),
        "owner_id": [1 + i % 3 for i in range(count)],
        "amount": [float(a) for a in rng.choice([10_000, 25_000, 50_000, 80_000], size=count)],
        "currency": ["USD"] * count,
        "stage": [["Prospecting", "Proposal", "Negotiation"][i % 3] for i in range(count)],
        "is_closed": [False] * count,
        "is_won": [False] * count,
        "created_at": [now - timedelta(days=int(d)) for d in rng.integers(30, 200, size=count)],
        "last_activity_at": [None if i % 7 == 0 else now - timedelta(days=int(d))
                             for i, d in enumerate(rng.integers(0, 40, size=count))],
        "stage_entered_at": [None if i % 11 == 0 else now - timedelta(days=int(d))
                             for i, d in enumerate(rng.integers(0, 60, size=count))],
        "close_date": [pd.Timestamp(TODAY) + pd.Timedelta(days=int(d)) for d in rng.integers(-10, 60, size=count)],
    })


def _stage_ages(deals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """What `storage.digest_queries.open_stage_ages` returns for these deals, grouped the same way."""
    frame = prepare_deals(deals, config)
    touch = frame["last_activity_at"].fillna(frame["created_at"])
    idle = (pd.Timestamp(TODAY) - touch.dt.normalize()).dt.days >= config.pipeline.stalled_after_days
    grouped = frame.assign(entered_day=frame["stage_entered_at"].dt.normalize(), idle=idle,
                           cents=(frame["amount_rc"] * 100).round().astype("int64"))
    ages = grouped.groupby(["owner_id", "stage", "entered_day", "idle"], dropna=False).agg(
        count=("id", "size"), cents=("cents", "sum"), max_cents=("cents", "max")).reset_index()
    return rollups.with_days_in_stage(rollups.owner_floats(ages), today=TODAY)


def test_stage_medians_and_stalled_totals_match_the_row_by_row_metrics() -> None:
    config = RevbotConfig()
    deals = _open_deals()
    ages = _stage_ages(deals, config)

    medians = rollups.stage_medians(ages)
    expected = stalled_deals(deals, today=TODAY, config=config)

    assert medians == stage_age_medians(prepare_deals(deals, config), today=TODAY)
    stuck = rollups.stalled_groups(ages, medians, config=config)
    assert int(stuck["count"].sum()) == len(expected)
    assert rollups.cents_total(stuck) == round(float(expected["amount_rc"].sum()), 2)


def test_biggest_stalled_lists_what_stalled_deals_lists_first() -> None:
    config = RevbotConfig()
    deals = _open_deals()
    medians = stage_age_medians(prepare_deals(deals, config), today=TODAY)
    pool = rollups.with_stall_days(prepare_deals(deals, config), today=TODAY)

    mine = rollups.biggest_stalled(pool, medians, config=config, limit=5)
    theirs = stalled_deals(deals, today=TODAY, config=config, stage_medians=medians).head(5)

    assert list(mine["id"]) == list(theirs["id"])
    assert list(mine["reason"]) == list(theirs["reason"])
    assert list(mine["stage_median_days"]) == list(theirs["stage_median_days"])


def test_a_team_cut_from_the_org_reads_like_its_own_load(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    config = digest_config()
    env = digest_environment(config)
    with session_factory(engine)() as session:
        org = load_weekly_org(session, config, today=TODAY)
        members = team_members(session)
        for team in team_recipients(session, config):
            cut = build_team(session, config, team, today=TODAY, org=org, members=members)
            own = build_team(session, config, team, today=TODAY)
            texts = [render(env, "weekly.j2", fallback=d.title, digest=d, retention=None, as_of="now").text
                     for d in (cut, own)]
            assert texts[0] == texts[1]
            assert cut.movement == own.movement and cut.pipeline.stalled_count == own.pipeline.stalled_count


def test_reading_on_several_connections_at_once_gives_the_same_digests(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    config = digest_config()
    env = digest_environment(config)
    with session_factory(engine)() as session:
        texts = []
        for concurrent in (False, True):
            org = load_weekly_org(session, config, today=TODAY, concurrent=concurrent)
            monday = build_monday(session, config, today=TODAY, inputs=org, concurrent=concurrent)
            message = render(env, "weekly.j2", fallback="Monday", digest=monday.weekly,
                             retention=monday.retention, as_of="now")
            texts.append(json.dumps(message.blocks))
    assert texts[0] == texts[1]
    assert "Monday digest" in texts[0] and "Globex" in texts[0]
