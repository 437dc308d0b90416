"""`revbot demo`: seeds an empty database once, re-seeds on --reset, never wipes real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from bot.cli import app
from storage.models import Deal, DealHistory, SyncRun, User
from storage.settings import get_settings


@pytest.fixture(autouse=True)
def _quiet_sections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The answers/digests sections belong to other parts; here we only check they are called."""
    called: list[str] = []
    monkeypatch.setattr("bot.cli.demo_answers.show", lambda runtime, console: called.append("answers"))
    monkeypatch.setattr("bot.cli.demo_digests.show", lambda runtime, console: called.append("digests"))
    get_settings.cache_clear()
    yield called
    get_settings.cache_clear()


def _demo(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner().invoke(app, ["demo", *args])


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with Session(engine) as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (User, Deal, DealHistory, SyncRun))


def test_demo_seeds_once_and_twice_adds_nothing(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, _quiet_sections: list[str]
) -> None:
    first = _demo(database_url, monkeypatch, "--deals", "300")
    assert first.exit_code == 0, first.output
    after_first = _counts(engine)
    assert after_first[:2] == (40, 300) and after_first[3] == 1

    second = _demo(database_url, monkeypatch, "--deals", "300")
    assert second.exit_code == 0, second.output
    assert "Using the existing data" in second.output
    assert _counts(engine) == after_first
    assert _quiet_sections == ["answers", "digests", "answers", "digests"]


def test_demo_prints_the_org_and_what_to_try(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _demo(database_url, monkeypatch, "--deals", "300")
    for expected in ("NA East", "28 reps", "Open pipeline", "ARR", "What to try next",
                     'revbot ask "/pipeline" --as oliver.schmidt@acme-demo.example',
                     'revbot ask "/target team emea" --as isabelle.laurent@acme-demo.example',
                     "revbot digest monday --preview", "revbot alerts check"):
        assert expected in result.output


def test_reset_generates_again(database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _demo(database_url, monkeypatch, "--deals", "300")
    result = _demo(database_url, monkeypatch, "--deals", "400", "--reset")
    assert result.exit_code == 0, result.output
    users, deals, _, syncs = _counts(engine)
    assert (users, deals, syncs) == (40, 400, 1)


def test_reset_refuses_to_wipe_crm_data(database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _demo(database_url, monkeypatch, "--deals", "300")
    with Session(engine) as session, session.begin():
        session.add(SyncRun(source="salesforce", started_at=session.scalar(select(func.min(Deal.created_at))),
                            status="success"))
    result = _demo(database_url, monkeypatch, "--reset")
    assert result.exit_code == 2
    assert "refusing to wipe" in result.output and "Traceback" not in result.output
    assert _counts(engine)[1] == 300


def test_without_database_url_it_uses_revbot_demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["demo", "--deals", "200"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "revbot-demo.db").exists()
    assert not (tmp_path / "revbot.db").exists()


def test_bad_deal_count_is_a_usage_message(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _demo(database_url, monkeypatch, "--deals", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output
