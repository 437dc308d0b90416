"""When an answer worker computes numbers ahead of the questions: `WarmUp`, a daemon thread.

Each answer worker runs one. Every `CHECK_SECONDS` it reads the data version (the newest successful
`sync_runs` row) and the day; when either changed, or what it computed is due to expire, it warms
again: the org-wide numbers first if this worker serves execs (`bot.org_warm_up`), then the numbers
of the reps and managers this worker answers (`bot.people_warm_up`). Two flags, which the bot
process reads for `/healthz`, say whether each part is warm for the current data version and day.
After a round, `after_round` runs (the workers move what it kept out of the garbage collector's sight).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.org_warm_up import warm_org_numbers
from bot.people_warm_up import warm_people_numbers
from commands import shared_numbers
from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.freshness import newest_successful_sync

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # a check is one MAX() over sync_runs, a row per sync
# Refresh well before the kept numbers expire, so nobody finds them gone.
REFRESH_SECONDS = shared_numbers.TTL_SECONDS * 0.75


class Flag(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...


class WarmUp:
    """See the module docstring. `check()` does one round; the thread calls it every
    `CHECK_SECONDS`. `org_warm` is None for a worker that does not serve execs; `mine(email)` says
    which reps and managers this worker answers; `wait_for_quiet()` returns once the worker has no
    live question to answer (the warm-up calls it before each person)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: RevbotConfig,
        *,
        org_warm: Flag | None = None,
        people_warm: Flag | None = None,
        mine: Callable[[str], bool] = lambda _email: True,
        wait_for_quiet: Callable[[], None] = lambda: None,
        after_round: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
    ) -> None:
        self._sessions, self._config, self._clock, self._now = sessions, config, clock, now
        self._org_warm = org_warm
        self._people_warm = people_warm or threading.Event()
        self._mine, self._wait_for_quiet, self._after_round = mine, wait_for_quiet, after_round
        self._warmed: tuple[object, ...] | None = None
        self._warmed_at = 0.0
        self._stop = threading.Event()
        self.rounds = 0

    def check(self) -> bool:
        """Warm the numbers if the data version or the day changed, or they are due for a refresh;
        returns whether it did."""
        now = self._now()
        with self._sessions() as session:
            version = newest_successful_sync(session)
        today = local_today(self._config.zone, now)
        due = self._clock() - self._warmed_at >= REFRESH_SECONDS
        if (version, today) == self._warmed and not due:
            return False
        if (version, today) != self._warmed:
            if self._org_warm is not None:
                self._org_warm.clear()
            self._people_warm.clear()
            shared_numbers.forget_scoped_numbers()
        if self._org_warm is not None:
            seconds = warm_org_numbers(self._sessions, self._config, now)
            self._org_warm.set()
            log.info("org-wide numbers warm for data as of %s in %.1f s: %s", version, sum(seconds.values()), seconds)
        people = warm_people_numbers(
            self._sessions, self._config, now, mine=self._mine, wait_for_quiet=self._wait_for_quiet
        )
        self._wait_for_quiet()
        self._after_round()
        self._people_warm.set()
        log.info("numbers of %d people warm in %.1f s (%d failed)", people.people, people.seconds, people.failures)
        self._warmed, self._warmed_at = (version, today), self._clock()
        self.rounds += 1
        return True

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="revbot-warm-up", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the database may be down for a moment; try again later
                log.exception("warm-up check failed")
            self._stop.wait(CHECK_SECONDS)
