"""Alert state: what to do with each condition this run, given what was sent before.

States: open → acknowledged (someone owns it) / snoozed (until a time) → resolved (the condition
cleared). The rules decide *what holds*; `decide` decides *what fires*:

| before                     | condition now            | action                                   |
|----------------------------|--------------------------|------------------------------------------|
| none                       | holds                    | fire (new)                               |
| resolved                   | holds again              | fire, unless it fired within the cooldown |
|                            |                          | (a flapping condition stays quiet)       |
| open / acknowledged        | same or lower severity   | nothing (a steady condition alerts once) |
| open / acknowledged        | higher severity          | fire (worse)                             |
| snoozed, until > now       | anything                 | nothing                                  |
| snoozed, until <= now      | holds                    | fire (snooze over)                       |
| open/ack/snoozed           | gone                     | resolve; recovery note if it was posted  |

"Re-fires only when it gets worse or after a cooldown": the cooldown is the quiet period for a
condition that clears and comes back; it never turns a steady condition into a daily reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from digests.alerts.rules import EVENT_RULES, AlertCandidate

Action = Literal["fire", "touch", "resolve", "ignore"]


@dataclass(frozen=True)
class Previous:
    """The parts of an `alert_events` row that decisions depend on."""

    state: str
    severity: float | None
    last_fired_at: datetime | None
    snoozed_until: datetime | None
    posted: bool


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # new | worse | recurred | snooze over | steady | snoozed | quiet | cleared


def decide(previous: Previous | None, candidate: AlertCandidate | None, *, now: datetime,
           cooldown: timedelta) -> Decision:
    if candidate is None:
        if previous is None or previous.state == "resolved":
            return Decision("ignore", "nothing")
        return Decision("resolve", "cleared")
    if previous is None:
        return Decision("fire", "new")
    if previous.state == "resolved":
        recent = previous.last_fired_at is not None and now - previous.last_fired_at < cooldown
        return Decision("touch", "quiet") if recent else Decision("fire", "recurred")
    if previous.state == "snoozed":
        if previous.snoozed_until is not None and previous.snoozed_until > now:
            return Decision("touch", "snoozed")
        return Decision("fire", "snooze over")
    if candidate.severity > (previous.severity or 0):
        return Decision("fire", "worse")
    return Decision("touch", "steady")


def wants_recovery_note(rule: str, previous: Previous, send_recovery: bool) -> bool:
    """A short "resolved" reply under a posted alert for standing conditions (not one-off events)."""
    return send_recovery and previous.posted and rule not in EVENT_RULES
