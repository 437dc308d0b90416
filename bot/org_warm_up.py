"""Org-wide numbers computed before the first exec asks.

An exec's `/pipeline` or `/funnel` aggregates every deal: on 1M deals that costs seconds, and the
numbers are kept per data version (`commands.shared_numbers`), so without this the first exec after
each sync — and after each expiry — waits for them, and so does everyone who asks at the same time.
Each answer worker therefore runs an `OrgWarmUp` thread: when the data version (the newest
successful `sync_runs` row, checked every few seconds) or the day changes, and again before what it
computed expires, it asks each command's default question as an exec would (parse → authorize →
run, no reply, no audit row) with `shared_numbers.recomputing()`, so the numbers are computed afresh
and kept. Other periods and arguments (`/pipeline next quarter`) are computed when first asked.

An exec who asks while the warm-up computes waits for that computation instead of starting another
(single flight); one who asks during a refresh gets the numbers still kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.dispatch import Request, answer_as
from bot.identity import CONFIG_ONLY_USER_ID
from commands import shared_numbers
from commands.registry import Caller
from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.freshness import newest_successful_sync

log = logging.getLogger(__name__)

# Every command whose everyone-scope numbers go through `shared_numbers`.
WARMED_COMMANDS = ("pipeline", "target", "forecast", "funnel", "retention", "renewals")
CHECK_SECONDS = 5.0  # a check is one MAX() over sync_runs, a row per sync
# Refresh well before the kept numbers expire, so an exec never finds them gone.
REFRESH_SECONDS = shared_numbers.TTL_SECONDS * 0.75
WARM_UP_CALLER = Caller(
    user_id=CONFIG_ONLY_USER_ID, name="revbot warm-up", email="warm-up@revbot.invalid", role="exec", team_id=None
)


def warm_org_numbers(
    sessions: sessionmaker[Session], config: RevbotConfig, now: datetime | None = None
) -> dict[str, float]:
    """Answer each of `WARMED_COMMANDS`' default questions as an exec, computing the org-wide numbers
    afresh; returns the seconds each took. A command that fails is logged and skipped."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    seconds: dict[str, float] = {}
    with shared_numbers.recomputing():
        for name in WARMED_COMMANDS:
            started = time.monotonic()
            try:
                with sessions() as session:
                    answer_as(session, config, WARM_UP_CALLER, Request(f"/{name}", "", None, source="warm-up"), now)
            except Exception:  # noqa: BLE001 - a failed warm-up only means the exec computes it
                log.exception("warming the org-wide /%s numbers failed", name)
                continue
            seconds[name] = time.monotonic() - started
    return seconds


class Flag(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...


class OrgWarmUp:
    """A daemon thread that keeps the org-wide numbers warm in this process (see the module
    docstring). `check()` does one round; the thread calls it every `CHECK_SECONDS`. `warm` (an
    event the bot process can read, for `/healthz`) is set while the numbers for the current data
    version and day are kept, and cleared while new ones are computed."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: RevbotConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
        warm: Flag | None = None,
    ) -> None:
        self._sessions, self._config, self._clock, self._now = sessions, config, clock, now
        self._warm = warm or threading.Event()
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
            self._warm.clear()
        seconds = warm_org_numbers(self._sessions, self._config, now)
        self._warmed, self._warmed_at = (version, today), self._clock()
        self._warm.set()
        self.rounds += 1
        log.info("org-wide numbers warm for data as of %s in %.1f s: %s", version, sum(seconds.values()), seconds)
        return True

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="revbot-org-warm-up", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the database may be down for a moment; try again later
                log.exception("org-wide warm-up check failed")
            self._stop.wait(CHECK_SECONDS)
