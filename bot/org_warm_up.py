"""Org-wide numbers computed before the first exec asks.

An exec's `/pipeline` or `/funnel` aggregates every deal: on 1M deals that costs seconds, and the
numbers are kept per data version (`commands.shared_numbers`), so without this the first exec after
each sync — and after each expiry — waits for them, and so does everyone who asks at the same time.
The answer worker that serves execs therefore asks, whenever `bot.warm_up.WarmUp` says so (a new
data version or day, and before what it computed expires), each command's default question as an
exec would (parse → authorize → run, no reply, no audit row) with `shared_numbers.recomputing()`,
so the numbers are computed afresh and kept. Other periods and arguments (`/pipeline next quarter`)
are computed when first asked.

An exec who asks while the warm-up computes waits for that computation instead of starting another
(single flight); one who asks during a refresh gets the numbers still kept.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.dispatch import Request, answer_as
from bot.identity import CONFIG_ONLY_USER_ID
from commands import shared_numbers
from commands.registry import Caller
from storage.config import RevbotConfig

log = logging.getLogger(__name__)

# Every command whose everyone-scope numbers go through `shared_numbers`.
WARMED_COMMANDS = ("pipeline", "target", "forecast", "funnel", "retention", "renewals")
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
