"""The plain-row paths `/funnel`, `/deal` and `/account` take for a rep's answer give what the
DataFrame and shared-lookup paths give, on a seeded demo org (realistic names, stage histories,
currencies and lead sources) rather than the hand-built one: for reps, a manager's team and everyone."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from itertools import product
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from commands.account import parse as parse_account
from commands.arguments import find_one_account
from commands.deal import _day
from commands.funnel import funnel_numbers
from commands.pipeline import deal_rows
from commands.registry import Caller, CommandContext, ParseContext, UsageError
from metrics.periods import parse_period
from metrics.velocity import (
    funnel_from_changes,
    median_days_from_stays,
    source_rows_from_totals,
    stage_conversion_from_reach,
    stage_conversion_rows,
)
from metrics.volume import by_source_from_totals
from storage.config import RevbotConfig
from storage.deal_queries import card_history_rows, deal_card_rows, find_deal_ids
from storage.demo import seed_demo
from storage.funnel_queries import deal_totals_sql, pipeline_stage_rows_sql, stage_change_rows_sql
from storage.models import Account, Deal, User
from storage.queries import DEAL_COLUMNS, load_deals, load_history
from storage.scope import Scope
from tests.commands.test_funnel_sql import frames_path

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 15, 0)
EXEC = Caller(2, "Dana Whitfield", "dana.whitfield@acme-demo.example", "exec", None)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A 1,500-deal demo (SQLite, or PostgreSQL with REVBOT_TEST_DATABASE_URL)."""
    seed_demo(engine, seed=7, deals=1_500, today=TODAY)
    with Session(engine) as session:
        yield session


def _scopes(session: Session) -> dict[str, Scope]:
    reps = list(session.scalars(select(User.id).where(User.role == "rep").order_by(User.id)))
    manager = session.scalar(select(User).where(User.role == "manager").order_by(User.id))
    assert manager is not None
    team = set(session.scalars(select(User.id).where(User.team_id == manager.team_id)))
    return {
        "first rep": Scope.of_owners("your deals", {reps[0]}),
        "last rep": Scope.of_owners("your deals", {reps[-1]}),
        "team": Scope.of_owners("team", team),
        "everyone": Scope.everyone(),
    }


def test_funnel_numbers_equal_the_frames_path(session: Session, config: RevbotConfig) -> None:
    for (name, scope), period_text in product(_scopes(session).items(), ["this quarter", "last quarter", "ytd"]):
        period = parse_period(period_text, today=TODAY)
        numbers = funnel_numbers(CommandContext(session, config, EXEC, scope, TODAY, NOW), period)
        expected = frames_path(session, scope, period, config)
        assert numbers.stages == expected["stages"], (name, period_text)
        assert numbers.speed == expected["speed"], (name, period_text)
        assert numbers.sources == expected["sources"], (name, period_text)


def test_plain_rows_equal_the_frame_functions(session: Session, config: RevbotConfig) -> None:
    period = parse_period("this quarter", today=TODAY)
    names = [s.name for s in config.stages]
    for name, scope in _scopes(session).items():
        totals = deal_totals_sql(session, scope, period.start, period.end, config)
        assert source_rows_from_totals(totals, config) == deal_rows(by_source_from_totals(totals, config)), name
        changes = stage_change_rows_sql(session, scope, until=period.end_exclusive_datetime, stages=names)
        pipeline = pipeline_stage_rows_sql(session, scope, start=period.start, end=period.end, stages=names)
        reach, stays = funnel_from_changes(changes, pipeline, config)
        assert stage_conversion_rows(reach, config) == deal_rows(stage_conversion_from_reach(reach, config)), name
        days = pd.to_timedelta(stays["millis"].to_numpy(dtype="int64"), unit="ms").total_seconds() / 86400
        grouped = pd.DataFrame({"stage": stays["stage"].array, "days": days}).groupby("stage", observed=True)
        assert median_days_from_stays(stays) == {str(k): float(v) for k, v in grouped["days"].median().items()}, name
        by_name = stays.assign(stage=stays["stage"].astype(str))  # plain strings: the factorized branch
        assert median_days_from_stays(by_name) == median_days_from_stays(stays), name


def _frame_value(value: Any) -> Any:
    """A `load_deals` / `load_history` cell as the plain rows give it."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _plain(value: Any) -> Any:
    return _day(value) if isinstance(value, date) else value


def test_deal_card_rows_equal_load_deals_and_load_history(session: Session) -> None:
    needles = ["software", "holdings", "renewal", "a", "zzz no match"]
    for (name, scope), needle in product(_scopes(session).items(), needles):
        ids = find_deal_ids(session, scope, needle, limit=50)
        rows = deal_card_rows(session, scope, ids[:5])
        frame = load_deals(session, scope, deal_ids=ids[:5]).set_index("id", drop=False)
        expected = [{c: _frame_value(frame.loc[i, c]) for c in DEAL_COLUMNS} for i in ids[:5]]
        assert [{c: _plain(v) for c, v in row.items()} for row in rows] == [
            {c: _plain(v) for c, v in row.items()} for row in expected
        ], (name, needle)
        history = load_history(session, scope, deal_ids=ids[:5])
        expected_history = [{k: _frame_value(v) for k, v in row.items()} for row in history.to_dict("records")]
        assert card_history_rows(session, scope, ids[:5]) == expected_history, (name, needle)


def _account_answer(session: Session, config: RevbotConfig, text: str, *, fast: bool) -> tuple[str, Any]:
    """(kind, value): the account a name finds, or the usage error it raises."""
    try:
        if fast:
            subject = parse_account(text, ParseContext(session, config, EXEC, TODAY))[1]
            return "account", (subject.value, subject.label)
        account = find_one_account(session, text)
        return "account", (account.id, account.name)
    except UsageError as error:
        return "usage", str(error)


def test_account_lookup_equals_the_shared_lookup(session: Session, config: RevbotConfig) -> None:
    accounts = list(session.scalars(select(Account).order_by(Account.id).limit(40)))
    words = ["holdings", "inc", "energy", "acorn", "zzz no match", "%", "_", "a", "Software Partners"]
    names = [a.name for a in accounts[::4]] + [a.name.upper() for a in accounts[1::4]]
    names += [a.crm_id for a in accounts[2::8] if a.crm_id] + [a.name.split()[0] for a in accounts[3::8]]
    deal_name = session.scalar(select(Deal.name).order_by(Deal.id))
    for text in [*words, *names, str(deal_name)]:
        fast, shared = (
            _account_answer(session, config, text, fast=True),
            _account_answer(session, config, text, fast=False),
        )
        assert fast == shared, text


def test_an_account_named_like_another_in_another_case_goes_to_the_part_of_a_name_search(
    session: Session, config: RevbotConfig
) -> None:
    account = session.scalars(select(Account).order_by(Account.id)).first()
    assert account is not None
    session.add(Account(crm_id="001DUPLICATE", name=account.name.upper(), is_target_account=False))
    session.flush()
    for text in (account.name, account.name.lower(), account.name.split()[0]):
        fast, shared = (
            _account_answer(session, config, text, fast=True),
            _account_answer(session, config, text, fast=False),
        )
        assert fast == shared, text
    session.rollback()


def test_a_team_search_finds_the_same_deals_by_the_owner_index_as_by_the_scan(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pod is a small share of a big org's users (the owner index), a quarter of a small one's (a scan).
    import storage.deal_queries as deal_queries

    team = _scopes(session)["team"]
    for needle in ["software", "holdings", "renewal", "a", "zzz no match"]:
        monkeypatch.setattr(deal_queries, "OWNER_INDEX_MAX_SHARE", 1.0)
        by_index = find_deal_ids(session, team, needle, limit=50)
        monkeypatch.setattr(deal_queries, "OWNER_INDEX_MAX_SHARE", 0.0)
        assert find_deal_ids(session, team, needle, limit=50) == by_index, needle
        assert by_index or needle == "zzz no match"
