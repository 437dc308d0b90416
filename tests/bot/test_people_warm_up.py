"""Every rep's and manager's default questions are computed ahead, per data version: their answers
come from the kept numbers and read exactly as computed fresh; other questions and other people's
are computed when asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import commands.funnel
import commands.pipeline
import storage.deal_queries
from bot import answer_workers
from bot.dispatch import Request, answer
from bot.org_warm_up import WARMED_COMMANDS
from bot.people_warm_up import is_warmed_question, people_to_warm, warm_people_numbers
from bot.warm_up import WarmUp
from commands import shared_numbers, stage_medians
from storage.database import session_factory
from storage.models import AuditLog
from storage.sync.runs import record_run, utcnow


@pytest.fixture(autouse=True)
def nothing_kept_between_tests() -> Iterator[None]:
    shared_numbers.clear()
    stage_medians.clear()
    yield
    shared_numbers.clear()
    stage_medians.clear()


class Counting:
    """Wraps a numbers function and counts its calls."""

    def __init__(self, wrapped):
        self.wrapped, self.calls = wrapped, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.wrapped(*args, **kwargs)


def ask(engine, config, person, command: str, text: str = "", now=None):
    return answer(session_factory(engine), config, Request(command, text, person.email, source="cli"), now=now)


def test_a_reps_answer_after_the_warm_up_is_the_fresh_answer_without_computing(engine, config, org, monkeypatch):
    now = utcnow()
    fresh = {name: ask(engine, config, org["dana"], f"/{name}", now=now).message for name in WARMED_COMMANDS}
    shared_numbers.clear()
    stage_medians.clear()

    warm_people_numbers(session_factory(engine), config, now)

    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", _must_not_compute)
    monkeypatch.setattr(commands.funnel, "funnel_numbers", _must_not_compute)
    for name in WARMED_COMMANDS:
        warmed = ask(engine, config, org["dana"], f"/{name}", now=now)
        assert warmed.status == "answered", (name, warmed.message.text)
        assert warmed.message.blocks == fresh[name].blocks, name


def test_a_reps_deal_search_after_the_warm_up_reads_the_kept_names_and_finds_the_same(
    engine, config, org, monkeypatch
):
    now = utcnow()
    fresh = ask(engine, config, org["dana"], "/deal", "a", now=now).message
    warm_people_numbers(session_factory(engine), config, now)
    if engine.dialect.name == "sqlite":  # PostgreSQL searches in SQL (see storage.deal_queries)
        monkeypatch.setattr(storage.deal_queries, "_matching_ids", _must_not_compute)
    assert ask(engine, config, org["dana"], "/deal", "a", now=now).message.blocks == fresh.blocks


def test_a_managers_team_numbers_are_warmed_too(engine, config, org, monkeypatch):
    now = utcnow()
    fresh = ask(engine, config, org["mona"], "/pipeline", now=now).message
    warm_people_numbers(session_factory(engine), config, now)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", _must_not_compute)
    assert ask(engine, config, org["mona"], "/pipeline", now=now).message.blocks == fresh.blocks


def test_without_the_warm_up_a_reps_numbers_are_computed_for_every_question(engine, config, org, monkeypatch):
    counting = Counting(commands.pipeline.pipeline_numbers)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", counting)
    ask(engine, config, org["dana"], "/pipeline")
    ask(engine, config, org["dana"], "/pipeline")
    assert counting.calls == 2


def test_another_period_is_computed_when_asked(engine, config, org, monkeypatch):
    now = utcnow()
    warm_people_numbers(session_factory(engine), config, now)
    counting = Counting(commands.pipeline.pipeline_numbers)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", counting)
    assert ask(engine, config, org["dana"], "/pipeline", "next quarter", now=now).status == "answered"
    assert counting.calls == 1


def test_a_new_sync_makes_the_kept_numbers_unused(engine, config, org, monkeypatch):
    now = utcnow()
    warm_people_numbers(session_factory(engine), config, now)
    record_run(engine, source="salesforce", started_at=now - timedelta(seconds=5), status="success")
    counting = Counting(commands.pipeline.pipeline_numbers)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", counting)
    ask(engine, config, org["dana"], "/pipeline", now=now)
    assert counting.calls == 1


def test_only_the_people_a_worker_answers_are_warmed(engine, config, org, monkeypatch):
    now = utcnow()
    warmed = warm_people_numbers(session_factory(engine), config, now, mine=lambda email: email.startswith("dana"))
    assert warmed.people == 1
    counting = Counting(commands.pipeline.pipeline_numbers)
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", counting)
    ask(engine, config, org["dana"], "/pipeline", now=now)
    ask(engine, config, org["omar"], "/pipeline", now=now)
    assert counting.calls == 1  # Omar's


def test_the_people_are_the_reps_and_managers_with_revbot_toml_roles_deciding(engine, config, org):
    promoted = config.model_copy(update={"roles": {org["dana"].email: "exec", org["carla"].email: "manager"}})
    with session_factory(engine)() as session:
        names = {caller.name for caller in people_to_warm(session, promoted)}
    assert names == {"Omar Haddad", "Priya Shah", "Mona Lindqvist", "Nate Brooks", "Carla Diaz"}


def test_the_people_warm_up_writes_no_audit_row(engine, config, org):
    warm_people_numbers(session_factory(engine), config, utcnow())
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_a_failing_question_is_skipped_and_the_rest_still_warmed(engine, config, org, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("funnel query failed")

    monkeypatch.setattr(commands.funnel, "funnel_numbers", broken)
    warmed = warm_people_numbers(session_factory(engine), config, utcnow())
    assert warmed.people > 1 and warmed.failures == warmed.people  # each person's /funnel
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1  # once a round, not once a person
    monkeypatch.setattr(commands.pipeline, "pipeline_numbers", _must_not_compute)
    assert ask(engine, config, org["dana"], "/pipeline").status == "answered"


def test_argument_free_questions_of_warmed_commands_and_deal_searches_count_as_warmed():
    assert is_warmed_question(Request("/pipeline", "  ", "dana@acme.test"))
    assert is_warmed_question(Request("funnel", "\x00", "dana@acme.test"))
    assert is_warmed_question(Request("/deal", "acme", "dana@acme.test"))  # searches the kept deal names
    assert not is_warmed_question(Request("/pipeline", "next quarter", "dana@acme.test"))
    assert not is_warmed_question(Request("/account", "", "dana@acme.test"))


def test_a_worker_that_does_not_serve_execs_warms_only_people(engine, config, org, monkeypatch):
    monkeypatch.setattr("bot.warm_up.warm_org_numbers", _must_not_compute)
    people_warm = threading.Event()
    rounds: list[int] = []
    warm_up = WarmUp(session_factory(engine), config, people_warm=people_warm, after_round=lambda: rounds.append(1))
    assert warm_up.check() is True
    assert people_warm.is_set() and rounds == [1]


def test_the_org_worker_warms_the_org_first_then_people(engine, config, org, monkeypatch):
    order: list[str] = []
    monkeypatch.setattr("bot.warm_up.warm_org_numbers", lambda *args, **kwargs: order.append("org") or {})
    real = warm_people_numbers
    monkeypatch.setattr("bot.warm_up.warm_people_numbers", lambda *a, **k: order.append("people") or real(*a, **k))
    org_warm, people_warm = threading.Event(), threading.Event()
    WarmUp(session_factory(engine), config, org_warm=org_warm, people_warm=people_warm).check()
    assert order == ["org", "people"] and org_warm.is_set() and people_warm.is_set()


def test_a_new_sync_drops_the_people_numbers_kept_for_the_old_data(engine, config, org):
    clock = {"now": 1000.0}
    warm_up = WarmUp(session_factory(engine), config, clock=lambda: clock["now"])
    warm_up.check()
    kept_before = _people_entries()
    record_run(engine, source="salesforce", started_at=utcnow() - timedelta(seconds=5), status="success")
    warm_up.check()
    assert kept_before and len(_people_entries()) == len(kept_before)  # one data version's worth, not two
    newest = {key[2] for key in _people_entries()}
    assert len(newest) == 1 and not newest & {key[2] for key in kept_before}


def _people_entries() -> list[tuple]:
    return [key for entries in shared_numbers._kept_for_scopes._entries.values() for key in entries]


def test_the_warm_up_waits_while_its_worker_answers_someone(monkeypatch):
    monkeypatch.setattr(answer_workers, "_last_answered", 0.0)
    answer_workers._live.set()
    waited = threading.Thread(target=answer_workers._wait_for_quiet)
    waited.start()
    time.sleep(0.1)
    assert waited.is_alive()
    answer_workers._live.clear()
    waited.join(timeout=2)
    assert not waited.is_alive()


def _must_not_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("the warmed numbers should have been used")
