"""The org-wide numbers are computed before the first exec asks: after each sync, each new day, and
before what was computed expires; the warm-up answers nobody and writes no audit row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

import commands.pipeline
from bot.dispatch import Request, answer
from bot.org_warm_up import WARMED_COMMANDS, warm_org_numbers
from bot.warm_up import REFRESH_SECONDS, WarmUp
from commands import shared_numbers, stage_medians
from commands.registry import CommandContext
from storage.database import session_factory
from storage.models import AuditLog
from storage.scope import Scope
from storage.sync.runs import record_run, utcnow


@pytest.fixture(autouse=True)
def keep_even_quick_numbers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fixture org computes in milliseconds, which `shared_numbers` would not keep."""
    monkeypatch.setattr(shared_numbers, "MIN_COMPUTE_SECONDS", 0.0)
    shared_numbers.clear()
    stage_medians.clear()
    yield
    shared_numbers.clear()
    stage_medians.clear()


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_an_exec_finds_the_warmed_numbers_and_the_same_answer(engine, config, org, monkeypatch):
    sessions = session_factory(engine)
    now = utcnow()
    erin = Request("/pipeline", "", org["erin"].email, source="cli")
    computed_fresh = answer(sessions, config, erin, now=now).message
    shared_numbers.clear()
    stage_medians.clear()

    warmed = warm_org_numbers(sessions, config, now)

    assert set(warmed) == set(WARMED_COMMANDS)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", _must_not_compute)
    after_warm_up = answer(sessions, config, erin, now=now)
    assert after_warm_up.status == "answered"
    assert after_warm_up.message.blocks == computed_fresh.blocks


def test_every_warmed_command_answers_an_exec_without_errors(engine, config, org):
    sessions = session_factory(engine)
    warm_org_numbers(sessions, config, utcnow())
    for name in WARMED_COMMANDS:
        outcome = answer(sessions, config, Request(f"/{name}", "", org["erin"].email, source="cli"))
        assert outcome.status == "answered", (name, outcome.message.text)


def test_the_warm_up_writes_no_audit_row(engine, config, org):
    sessions = session_factory(engine)
    warm_org_numbers(sessions, config, utcnow())
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_it_warms_at_start_again_after_a_sync_and_not_in_between(engine, config, org):
    sessions = session_factory(engine)
    warm_up = WarmUp(sessions, config, org_warm=threading.Event(), clock=FakeClock())
    assert warm_up.check() is True
    assert warm_up.check() is False
    record_run(engine, source="salesforce", started_at=utcnow() - timedelta(seconds=5), status="success")
    assert warm_up.check() is True
    assert warm_up.rounds == 2


def test_a_failed_sync_is_no_new_data_and_warms_nothing(engine, config, org):
    sessions = session_factory(engine)
    warm_up = WarmUp(sessions, config, org_warm=threading.Event(), clock=FakeClock())
    warm_up.check()
    record_run(engine, source="hubspot", started_at=utcnow(), status="failed", error="HTTP 500")
    assert warm_up.check() is False


def test_it_warms_again_on_a_new_day(engine, config, org):
    sessions = session_factory(engine)
    day = {"now": datetime(2026, 11, 24, 15, 0)}
    warm_up = WarmUp(sessions, config, org_warm=threading.Event(), clock=FakeClock(), now=lambda: day["now"])
    warm_up.check()
    day["now"] += timedelta(days=1)
    assert warm_up.check() is True


def test_it_refreshes_before_the_kept_numbers_expire(engine, config, org):
    clock = FakeClock()
    warm_up = WarmUp(session_factory(engine), config, org_warm=threading.Event(), clock=clock)
    warm_up.check()
    clock.seconds += REFRESH_SECONDS - 1
    assert warm_up.check() is False
    clock.seconds += 1
    assert warm_up.check() is True
    assert REFRESH_SECONDS < shared_numbers.TTL_SECONDS


def test_recomputing_replaces_kept_org_numbers(engine, config):
    with session_factory(engine)() as session:
        ctx = CommandContext(session=session, config=config, caller=None, scope=Scope.everyone(),  # type: ignore[arg-type]
                             today=utcnow().date(), now=utcnow())
        assert shared_numbers.shared_numbers(ctx, ("numbers",), lambda: 1) == 1
        assert shared_numbers.shared_numbers(ctx, ("numbers",), lambda: 2) == 1  # kept
        with shared_numbers.recomputing():
            assert shared_numbers.shared_numbers(ctx, ("numbers",), lambda: 3) == 3
        assert shared_numbers.shared_numbers(ctx, ("numbers",), lambda: 4) == 3


def _must_not_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("the warmed numbers should have been used")
