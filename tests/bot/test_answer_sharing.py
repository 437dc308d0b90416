"""Bursts of commands: identical requests share one computation, each asker still gets a reply and
an audit row, and answers can be computed in worker processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.answer_workers import ORG_WORKER, STUCK_SECONDS, AnswerWorkers, WorkerPlace, own_worker
from commands.registry import REGISTRY, Command, CommandContext, ParseContext, Subject
from commands.rendering import Message, section_blocks
from storage.database import session_factory
from storage.models import AuditLog
from storage.scope import Scope

RUNS: list[str] = []
RUNS_LOCK = threading.Lock()


def _parse(text: str, ctx: ParseContext) -> tuple[str, Subject]:
    return text, Subject("self")


def _slow_run(args: str, ctx: CommandContext) -> Message:
    with RUNS_LOCK:
        RUNS.append(ctx.caller.email or "")
    time.sleep(0.3)  # long enough for the whole burst to arrive while this one is computing
    return Message(text=f"answer for {ctx.caller.email}", blocks=section_blocks(f"answer for {ctx.caller.email}"))


SLOW = Command(name="slowprobe", description="A slow answer (tests only)", usage_hint="", examples=("",),
               parse=_parse, run=_slow_run)


@pytest.fixture
def slow_command() -> Iterator[Command[str]]:
    RUNS.clear()
    REGISTRY[SLOW.name] = SLOW
    try:
        yield SLOW
    finally:
        REGISTRY.pop(SLOW.name, None)


async def test_identical_requests_at_once_are_computed_once_and_each_gets_its_reply(slack, org, engine, slow_command):
    replies = await asyncio.gather(*(slack.command("/slowprobe", "", user=org["dana"]) for _ in range(8)))
    assert [org["dana"].email] == RUNS
    assert {reply.text for reply in replies} == {f"answer for {org['dana'].email}"}
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "/slowprobe")) == 8


async def test_different_people_at_once_each_get_their_own_answer(slack, org, slow_command):
    replies = await asyncio.gather(
        slack.command("/slowprobe", "", user=org["dana"]), slack.command("/slowprobe", "", user=org["erin"])
    )
    assert sorted(RUNS) == sorted([org["dana"].email, org["erin"].email])
    assert [reply.text for reply in replies] == [f"answer for {org['dana'].email}", f"answer for {org['erin'].email}"]


async def test_the_same_request_later_is_computed_again(slack, org, slow_command):
    await slack.command("/slowprobe", "", user=org["dana"])
    await slack.command("/slowprobe", "", user=org["dana"])
    assert len(RUNS) == 2


async def test_answers_can_come_from_worker_processes(slack, org, database_url, config):
    workers = AnswerWorkers(database_url, config, processes=1)
    try:
        await asyncio.to_thread(workers.warm_up)
        slack.state.workers = workers
        reply = await slack.command("/pipeline", "", user=org["dana"])
    finally:
        slack.state.workers = None
        workers.close()
    assert reply.text.startswith("Pipeline for")
    assert "Something went wrong" not in reply.plain


def test_same_scope_questions_in_flight_share_their_numbers(engine, config):
    from commands.shared_numbers import shared_numbers

    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        time.sleep(0.3)
        return 42

    sessions = session_factory(engine)
    results: list[int] = []

    def ask() -> None:
        with sessions() as session:
            ctx = CommandContext(session=session, config=config, caller=None, scope=Scope.of_owners("team", {1, 2}),
                                 today=None, now=None)  # type: ignore[arg-type]
            results.append(shared_numbers(ctx, ("numbers",), compute))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 4 and computed == [1]


def test_a_persons_questions_go_to_their_own_worker_unless_it_is_busier(database_url, config):
    workers = AnswerWorkers(database_url, config, processes=2)  # processes start on the first answer
    try:
        own = workers.worker_for("dana@example.com")
        assert {workers.worker_for("dana@example.com") for _ in range(5)} == {own}
        workers._in_flight[own] = [time.monotonic()]
        assert workers.worker_for("dana@example.com") == 1 - own
        workers._in_flight[1 - own] = [time.monotonic()]
        assert workers.worker_for("dana@example.com") == own
    finally:
        workers.close()


def test_a_warmed_question_goes_to_the_worker_that_keeps_the_askers_numbers_even_when_it_is_busier(
    database_url, config
):
    workers = AnswerWorkers(database_url, config, processes=2)
    try:
        own = own_worker("dana@example.com", 2)
        workers._in_flight[own] = [time.monotonic()] * 20  # a burst: its queue moves in milliseconds
        assert workers.worker_for("dana@example.com", warmed_question=True) == own
        assert workers.worker_for("dana@example.com") == 1 - own  # any other question: the idle worker
    finally:
        workers.close()


def test_a_warmed_question_goes_elsewhere_when_its_worker_is_stuck_on_a_slow_one(database_url, config):
    workers = AnswerWorkers(database_url, config, processes=2)
    try:
        own = own_worker("dana@example.com", 2)
        workers._in_flight[own] = [time.monotonic() - STUCK_SECONDS - 1]  # an org-wide /funnel, say
        assert workers.worker_for("dana@example.com", warmed_question=True) == 1 - own
    finally:
        workers.close()


def test_a_worker_warms_exactly_the_people_whose_default_questions_it_answers():
    emails = [f"rep{n}@example.com" for n in range(200)]
    places = [WorkerPlace(index, 3) for index in range(3)]
    for email in emails:
        assert [place.answers(email) for place in places].count(True) == 1
        assert places[own_worker(email.upper(), 3)].answers(email)
    assert all(sum(place.answers(email) for email in emails) > 40 for place in places)  # a fair split


def test_people_who_see_the_whole_org_are_answered_by_the_worker_that_keeps_its_numbers(
    database_url, engine, config, org
):
    workers = AnswerWorkers(database_url, config, processes=2, engine=engine)
    try:
        workers.refresh_org_viewers()
        workers._in_flight[ORG_WORKER] = [time.monotonic()] * 5
        assert workers.worker_for(org["erin"].email) == ORG_WORKER  # exec
        assert workers.worker_for(org["rita"].email.upper()) == ORG_WORKER  # revops
        assert workers.worker_for(org["dana"].email) == 1 - ORG_WORKER  # a rep: the idle worker
    finally:
        workers.close()


def test_a_role_set_in_revbot_toml_decides_who_sees_the_whole_org(engine, org, config):
    from bot.access import org_viewers

    promoted = config.model_copy(update={"roles": {org["dana"].email: "exec", org["erin"].email: "rep"}})
    with session_factory(engine)() as session:
        viewers = org_viewers(session, promoted)
    assert org["dana"].email.lower() in viewers
    assert org["erin"].email.lower() not in viewers
