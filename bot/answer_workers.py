"""Answers computed in worker processes, so that answer work never holds the interpreter lock the
acking event loop needs.

In one process, answer threads and the event loop share the GIL: under a burst of commands every
ack waits behind pandas and SQLAlchemy work, and Slack's 3-second ack limit gets close. With
`REVBOT_ANSWER_PROCESSES` > 0 (`revbot serve` uses 2 unless told otherwise) the bot process only
speaks HTTP and Slack, and the answers (parse → authorize → compute → render → audit, the same
`bot.dispatch.answer`) run in that many worker processes, each with its own database connections
and caches. 0 keeps the answers in threads of the bot process (tests, tiny deployments).

The first worker answers everyone who sees the whole org (exec, revops, cs: `bot.access.org_viewers`)
and keeps the org-wide numbers warm for them (`bot.org_warm_up`). Every rep and manager has their
own worker (`own_worker`, a hash of their email), which keeps their numbers warm
(`bot.people_warm_up`): their default questions and `/deal` searches go there; any other question
goes to the least busy worker, their own among equally busy ones. Each worker's `bot.warm_up.WarmUp`
thread does the computing ahead, and gives way whenever the worker has a live question.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.config import RevbotConfig

DEFAULT_PROCESSES = 2
PARENT_CHECK_SECONDS = 2.0
# Workers yield the CPU to the bot process: an ack has Slack's 3 seconds, an answer does not. On two
# cores, two busy workers otherwise delayed acks to ~300 ms under a burst of different people.
WORKER_NICENESS = 5
# On SQLite, workers read the database file through a memory map: pages come straight from the OS
# page cache, shared by every worker, instead of being copied into each connection (a rep's /funnel
# spent ~10 ms of its ~40 ms CPU in read() calls).
WORKER_MMAP_BYTES = 1 << 34
ORG_WORKER = 0  # answers the people who see the whole org, and keeps their numbers warm
ORG_VIEWERS_SECONDS = 60.0  # how long the list of who sees the whole org is kept
# A warmed question (`is_warmed_question`) goes to its asker's own worker, where their numbers are
# warm and it takes a few ms, unless the oldest question that worker has in flight was sent longer
# ago than this: it is busy with something slow (an org-wide question, a long queue), and the least
# busy worker computing the answer afresh is quicker than waiting.
STUCK_SECONDS = 0.25
# The warm-up computes ahead only once its worker has answered nobody for this long: in a burst the
# next question usually arrives within a few milliseconds of the last answer.
QUIET_SECONDS = 0.05

_worker: tuple[sessionmaker[Session], RevbotConfig] | None = None
_live = threading.Event()  # set while this worker answers a question
_last_answered = 0.0  # time.monotonic() when it last finished one


class AnswerWorkers:
    """Worker processes that answer `bot.dispatch.Request`s. Someone who sees the whole org is
    answered by `ORG_WORKER`, which keeps those numbers warm; anyone else by the worker with the
    fewest answers in flight, among equally busy ones their own (the same one each time, so the
    caches it keeps, such as a scope's stage medians, serve their next question too)."""

    def __init__(
        self,
        database_url: str,
        config: RevbotConfig,
        processes: int = DEFAULT_PROCESSES,
        *,
        engine: Engine | None = None,  # the bot's own, for reading who sees the whole org
    ) -> None:
        # spawn, not fork: the bot process runs an event loop and threads, which fork would copy mid-flight.
        context = multiprocessing.get_context("spawn")
        self._org_numbers_warm = context.Event()
        self._people_numbers_warm = [context.Event() for _ in range(processes)]
        self._pools = [
            ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_start_worker,
                initargs=(
                    database_url,
                    config,
                    WorkerPlace(index, processes),
                    self._org_numbers_warm if index == ORG_WORKER else None,
                    self._people_numbers_warm[index],
                ),
            )
            for index in range(processes)
        ]
        self.processes = processes
        # when each question in flight was sent, oldest first, per worker (only the event loop's thread)
        self._in_flight: list[list[float]] = [[] for _ in range(processes)]
        self._database_url, self._config, self._engine = database_url, config, engine
        self._org_viewers: frozenset[str] = frozenset()
        self._org_viewers_read = -ORG_VIEWERS_SECONDS
        self._org_viewers_lock = asyncio.Lock()

    def warm_up(self) -> None:
        """Start every worker now (imports, connections), not on the first command."""
        for future in [pool.submit(_ready) for pool in self._pools]:
            future.result()

    def org_numbers_warm(self) -> bool:
        """Whether the org worker holds the org-wide numbers for the current data version and day."""
        return self._org_numbers_warm.is_set()

    def people_numbers_warm(self) -> bool:
        """Whether every worker holds its reps' and managers' numbers for the current data version and day."""
        return all(flag.is_set() for flag in self._people_numbers_warm)

    async def answer(self, request: Any, now: datetime | None = None) -> Any:
        from bot.people_warm_up import is_warmed_question  # bot.dispatch imports this module
        if self._org_viewers_due():
            async with self._org_viewers_lock:  # a burst reads them once; the rest wait for that read
                if self._org_viewers_due():
                    await asyncio.to_thread(self.refresh_org_viewers)
        chosen = self.worker_for(f"{request.email}", warmed_question=is_warmed_question(request))
        sent = time.monotonic()
        self._in_flight[chosen].append(sent)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pools[chosen], _answer_here, request, now)
        finally:
            self._in_flight[chosen].remove(sent)

    def worker_for(self, email: str, *, warmed_question: bool = False) -> int:
        if email.strip().lower() in self._org_viewers:
            return ORG_WORKER
        own = own_worker(email, self.processes)
        if warmed_question and not self._stuck(own):
            return own
        return min(range(self.processes), key=lambda index: (len(self._in_flight[index]), index != own))

    def _stuck(self, index: int) -> bool:
        waiting = self._in_flight[index]
        return bool(waiting) and time.monotonic() - waiting[0] > STUCK_SECONDS

    def _org_viewers_due(self) -> bool:
        return time.monotonic() - self._org_viewers_read >= ORG_VIEWERS_SECONDS

    def refresh_org_viewers(self) -> None:
        """Read again who sees the whole org (`answer` does, every `ORG_VIEWERS_SECONDS`)."""
        from bot.access import org_viewers
        from storage.database import make_engine

        if self._engine is None:
            self._engine = make_engine(self._database_url)
        with Session(self._engine) as session:
            self._org_viewers = org_viewers(session, self._config)
        self._org_viewers_read = time.monotonic()

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class WorkerPlace:
    index: int
    processes: int

    def answers(self, email: str) -> bool:
        """Whether this worker is the own worker of the person with this email."""
        return own_worker(email, self.processes) == self.index


def own_worker(email: str, processes: int) -> int:
    """The worker that keeps this rep's or manager's numbers warm and answers their warmed questions."""
    return zlib.crc32(email.strip().lower().encode()) % processes


def _start_worker(
    database_url: str, config: RevbotConfig, place: WorkerPlace, org_numbers_warm: Any | None, people_numbers_warm: Any
) -> None:
    global _worker
    _exit_with_parent()
    os.nice(WORKER_NICENESS)
    import commands.all  # noqa: F401 - registers every command in this process
    from bot.warm_up import WarmUp
    from storage.database import make_engine, session_factory

    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _memory_mapped)
    _worker = (session_factory(engine), config)
    settle_garbage_collector()
    WarmUp(
        *_worker,
        org_warm=org_numbers_warm,  # None but in the org worker
        people_warm=people_numbers_warm,
        mine=place.answers,
        wait_for_quiet=_wait_for_quiet,
        after_round=settle_garbage_collector,
    ).start()


def _wait_for_quiet() -> None:
    """Return once this worker has answered nobody for `QUIET_SECONDS` (the warm-up's turn)."""
    while _live.is_set() or time.monotonic() - _last_answered < QUIET_SECONDS:
        time.sleep(QUIET_SECONDS / 5)


def settle_garbage_collector() -> None:
    """Move everything built at start-up (bolt, slack_sdk, SQLAlchemy, pandas, the command registry)
    and the numbers the warm-up keeps out of the collector's sight. Otherwise each full collection
    walks all of it while requests wait: pauses of 100-200 ms, which in the bot process land on every
    ack in flight. `revbot serve` calls it once started, each answer worker once ready and after each
    warm-up round; what was frozen before is looked at again first, so garbage cycles among numbers
    that a round replaced are freed, not kept for good."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _memory_mapped(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA mmap_size={WORKER_MMAP_BYTES}")


def _exit_with_parent() -> None:
    """A bot process killed outright (SIGKILL, OOM) cannot stop its workers: they stop themselves."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="revbot-parent-watch", daemon=True).start()


def _ready() -> bool:
    return _worker is not None


def _answer_here(request: object, now: datetime | None) -> object:
    from bot.dispatch import answer

    global _last_answered
    assert _worker is not None, "worker not initialised"
    sessions, config = _worker
    _live.set()
    try:
        return answer(sessions, config, request, now=now)  # type: ignore[arg-type]
    finally:
        _live.clear()
        _last_answered = time.monotonic()
