"""An org's stage changes on SQLite come packed in two strings (`storage.funnel_queries.
_everyones_stage_changes`): the same changes, in the same order, as the generic statement gives,
with removed deals, history of deals that do not exist, gaps in deal ids and changes at the
same moment."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from metrics.velocity import funnel_from_changes, median_days_from_stays
from storage import funnel_queries
from storage.config import RevbotConfig
from storage.models import DealHistory
from storage.scope import Scope
from tests.commands.conftest import DANA, _deal

UNTIL = datetime(2026, 7, 1)
COLUMNS = ["deal_id", "id", "old", "new", "at"]


def _generic(session: Session, stages: list[str], until: datetime) -> dict[str, np.ndarray]:
    stmt = funnel_queries._stage_changes_statement(funnel_queries.EVERYONE, "sqlite", tuple(stages))
    return funnel_queries._numeric_columns(session, stmt, {"until": until}, COLUMNS, ints=COLUMNS)


def _in_funnel_order(columns: dict[str, np.ndarray]) -> list[tuple[int, ...]]:
    order = np.lexsort((columns["id"], columns["at"], columns["deal_id"]))
    return [tuple(int(columns[name][i]) for name in ("deal_id", "old", "new", "at")) for i in order]


def _add_history(session: Session) -> None:
    session.add_all(
        [
            _deal(60, "Removed", DANA, 1, 1_000, "Proposal", removed_at=datetime(2026, 5, 1)),
            _deal(61, "Busy", DANA, 1, 2_000, "Proposal", created_at=datetime(2026, 1, 5, 8)),
        ]
    )
    session.flush()
    moment = datetime(2026, 3, 2, 10, 30, 15, 250_000)
    session.add_all(
        [
            DealHistory(id=900, deal_id=60, field="stage", old_value=None, new_value="Prospecting", changed_at=moment),
            # Two changes of deal 61 at the same moment: the id decides their order.
            DealHistory(
                id=902, deal_id=61, field="stage", old_value="Qualification", new_value="Proposal", changed_at=moment
            ),
            DealHistory(
                id=901, deal_id=61, field="stage", old_value="Prospecting", new_value="Qualification", changed_at=moment
            ),
            DealHistory(
                id=903,
                deal_id=61,
                field="stage",
                old_value="Odd",
                new_value="Prospecting",
                changed_at=datetime(2026, 2, 1),
            ),
            DealHistory(id=904, deal_id=61, field="stage", old_value="Proposal", new_value="Lost", changed_at=UNTIL),
        ]
    )
    session.flush()


def _check_same(session: Session, config: RevbotConfig) -> None:
    stages = [s.name for s in config.stages]
    # Before UNTIL some changes are not (a test per row); before 2030 all are (no test needed).
    for until in (UNTIL, datetime(2030, 1, 1)):
        packed = funnel_queries.stage_change_columns(session, Scope.everyone(), until=until, stages=stages)
        generic = _generic(session, stages, until)
        assert _in_funnel_order(packed) == _in_funnel_order(generic)
        pipeline = funnel_queries.pipeline_stage_columns(
            session,
            Scope.everyone(),
            start=datetime(2026, 4, 1).date(),
            end=datetime(2026, 6, 30).date(),
            stages=stages,
        )
        reach, stays = funnel_from_changes(packed, pipeline, config)
        reach_generic, stays_generic = funnel_from_changes(generic, pipeline, config)
        assert reach == reach_generic
        assert median_days_from_stays(stays) == median_days_from_stays(stays_generic)


@pytest.fixture
def sqlite_session(session: Session) -> Session:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the packed path is SQLite's")
    return session


def test_packed_changes_equal_the_generic_rows(sqlite_session: Session, config: RevbotConfig) -> None:
    _add_history(sqlite_session)
    packed = funnel_queries.stage_change_columns(
        sqlite_session, Scope.everyone(), until=UNTIL, stages=[s.name for s in config.stages]
    )
    assert 60 not in set(packed["deal_id"].tolist())  # removed
    deal_61 = packed["deal_id"] == 61
    assert len(packed["at"][deal_61]) == 3  # the change at UNTIL is not before it
    later = funnel_queries.stage_change_columns(
        sqlite_session, Scope.everyone(), until=datetime(2030, 1, 1), stages=[s.name for s in config.stages]
    )
    assert len(later["at"][later["deal_id"] == 61]) == 4
    _check_same(sqlite_session, config)


def test_packed_changes_with_gaps_in_deal_ids_and_missing_deals(sqlite_session: Session, config: RevbotConfig) -> None:
    _add_history(sqlite_session)
    sqlite_session.add(_deal(500, "Far away", DANA, 1, 3_000, "Qualification"))
    sqlite_session.flush()
    sqlite_session.add(
        DealHistory(
            deal_id=500,
            field="stage",
            old_value="Prospecting",
            new_value="Qualification",
            changed_at=datetime(2026, 4, 2),
        )
    )
    # History of a deal that is not there: left out, as the join does. (Foreign keys are checked
    # at commit only, and this test never commits.)
    sqlite_session.execute(text("PRAGMA defer_foreign_keys = ON"))
    sqlite_session.add(
        DealHistory(
            deal_id=499, field="stage", old_value=None, new_value="Prospecting", changed_at=datetime(2026, 4, 2)
        )
    )
    sqlite_session.flush()
    packed = funnel_queries.stage_change_columns(
        sqlite_session, Scope.everyone(), until=UNTIL, stages=[s.name for s in config.stages]
    )
    assert 499 not in set(packed["deal_id"].tolist())
    assert 500 in set(packed["deal_id"].tolist())
    _check_same(sqlite_session, config)


def test_no_changes_at_all(sqlite_session: Session, config: RevbotConfig) -> None:
    sqlite_session.execute(text("DELETE FROM deal_history"))
    packed = funnel_queries.stage_change_columns(
        sqlite_session, Scope.everyone(), until=UNTIL, stages=[s.name for s in config.stages]
    )
    assert all(len(values) == 0 for values in packed.values())
    _check_same(sqlite_session, config)


def test_owners_packed_changes_equal_the_generic_rows(sqlite_session: Session, config: RevbotConfig) -> None:
    _add_history(sqlite_session)
    stages = [s.name for s in config.stages]
    for owners in ({DANA}, {DANA, 2}, {999}):
        scope = Scope.of_owners("some", owners)
        packed = funnel_queries.stage_change_columns(sqlite_session, scope, until=UNTIL, stages=stages)
        stmt = funnel_queries._stage_changes_statement(funnel_queries.OWNERS_LIST, "sqlite", tuple(stages))
        params = funnel_queries._params(scope, until=UNTIL)
        generic = funnel_queries._numeric_columns(sqlite_session, stmt, params, COLUMNS, ints=COLUMNS)
        ordered = [np.lexsort((c["id"], c["at"], c["deal_id"])) for c in (packed, generic)]
        for name in COLUMNS:
            assert packed[name][ordered[0]].tolist() == generic[name][ordered[1]].tolist()
