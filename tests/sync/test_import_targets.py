"""`revbot import --object targets`: quotas per person or team, upserted on (owner, period, metric)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from storage.sync.importer import ImportOptions, import_file
from storage.sync.problems import RejectedInput, SyncInputError
from tests.sync.helpers import FIXTURES, rows, snapshot

T0 = datetime(2026, 6, 1, 9, 0)
OPTIONS = ImportOptions("generic", "targets")


@pytest.fixture
def people(engine):
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO teams (name) VALUES ('Enterprise')"))
        connection.execute(
            text(
                "INSERT INTO users (name, email, role) VALUES ('Dana Whitfield', 'dana@example.com', 'rep'),"
                " ('Marcus Lee', 'marcus@example.com', 'rep')"
            )
        )
    return engine


def stored(engine):
    found = rows(
        engine,
        "SELECT coalesce(u.email, t.name), x.period_start, x.period_end, x.metric, x.amount FROM targets x"
        " LEFT JOIN users u ON u.id = x.user_id LEFT JOIN teams t ON t.id = x.team_id ORDER BY 1",
    )
    return [(who, str(s)[:10], str(e)[:10], m, float(a)) for who, s, e, m, a in found]


def test_targets_for_people_and_teams_are_stored(people, config):
    stats = import_file(people, config, FIXTURES / "targets.csv", OPTIONS, now=T0).stats
    assert (stats["rows"], stats["inserted"], stats["updated"], stats["unchanged"]) == (3, 3, 0, 0)
    assert stored(people) == [
        ("Enterprise", "2026-07-01", "2026-09-30", "pipeline", 1200000.0),
        ("dana@example.com", "2026-07-01", "2026-09-30", "bookings", 250000.0),
        ("marcus@example.com", "2026-07-01", "2026-09-30", "bookings", 180000.0),
    ]


def test_reimporting_the_same_targets_changes_nothing(people, config):
    import_file(people, config, FIXTURES / "targets.csv", OPTIONS, now=T0)
    before = snapshot(people)
    stats = import_file(people, config, FIXTURES / "targets.csv", OPTIONS, now=T0).stats
    assert (stats["inserted"], stats["updated"], stats["unchanged"]) == (0, 0, 3)
    assert snapshot(people) == before
    assert rows(people, "SELECT count(*) FROM sync_runs WHERE status = 'success'") == [(2,)]


def test_bad_target_rows_reject_the_file_and_leave_the_database_unchanged(people, config):
    import_file(people, config, FIXTURES / "targets.csv", OPTIONS, now=T0)
    before = snapshot(people)
    with pytest.raises(RejectedInput) as rejected:
        import_file(people, config, FIXTURES / "targets_bad.csv", OPTIONS, now=T0)
    assert snapshot(people) == before
    assert [(p.row, p.column, p.value) for p in rejected.value.problems] == [
        (4, "amount", "-5"),
        (4, "period_end", "2026-07-01"),
    ]


def test_unknown_email_rejects_the_file(people, config, tmp_path):
    (tmp_path / "t.csv").write_text(
        "email,period_start,period_end,amount\nnobody@example.com,2026-07-01,2026-09-30,1\n"
    )
    before = snapshot(people)
    with pytest.raises(RejectedInput, match="row 2, column 'email': 'nobody@example.com' is not a known user's email"):
        import_file(people, config, tmp_path / "t.csv", OPTIONS, now=T0)
    assert snapshot(people) == before


def test_a_named_period_column_is_refused_with_where_to_put_it(people, config, tmp_path):
    (tmp_path / "t.csv").write_text("email,period,amount\ndana@example.com,2026-Q3,250000\n")
    with pytest.raises(SyncInputError, match="a named period like 2026-Q3 goes in revbot.toml"):
        import_file(people, config, tmp_path / "t.csv", OPTIONS, now=T0)
