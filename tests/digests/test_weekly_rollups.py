"""The weekly digest from per-owner SQL groups: the same numbers and lists as the row-by-row
metrics, and a team cut from the org's groups reads like the team's own load."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from commands.rendering import render
from digests import rollups, weekly
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


def test_an_owner_index_cuts_the_rows_owners_would() -> None:
    frame = rollups.owner_floats(pd.DataFrame({
        "owner_id": pd.array([3, 1, None, 2, 1, 3, None, 4], dtype="Int64"),
        "stage": pd.array(["a", "b", None, "c", "d", "e", "f", "g"], dtype="str"),
        "cents": [10, 20, 30, 40, 50, 60, 70, 80],
    }))
    index = rollups.OwnerRows(frame)
    for ids in ({1}, {1, 3}, {2, 4, 9}, {9}, set(), None):
        assert index.cut(frame, ids).equals(rollups.owners(frame, ids))
    empty = frame.iloc[0:0]
    assert rollups.OwnerRows(empty).cut(empty, {1}).empty
    plain = rollups.plain_strings(frame)
    assert plain["stage"].dtype == object and plain["stage"].isna().tolist() == frame["stage"].isna().tolist()


def test_each_team_reads_its_listable_deals_down_to_its_own_floor() -> None:
    candidates = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6, 7],
        "owner_id": [1.0, 1.0, 2.0, 2.0, 3.0, np.nan, 4.0],
        "cents": [500, 150, 300, 120, 10, 900, 50],
    })
    # The org's floor 400; team {1} reads down to 150, team {2} to 300, team {3} every deal;
    # owner 4 is in no team: the org's floor only.
    floors = [(None, 400), ({1}, 150), ({2}, 300), ({3}, None)]
    assert weekly._pool_ids(candidates, floors) == [1, 2, 3, 5, 6]
    # One scope, or a scope whose lists have no floor: the query already chose.
    assert weekly._pool_ids(candidates, [(None, 100)]) == [1, 2, 3, 4, 5, 6, 7]
    assert weekly._pool_ids(candidates, [(None, None), ({1}, 150)]) == [1, 2, 3, 4, 5, 6, 7]
    # A scoped load: its own floor for its owners.
    assert weekly._pool_ids(candidates[candidates["owner_id"] == 1.0], [({1}, 200)]) == [1]
