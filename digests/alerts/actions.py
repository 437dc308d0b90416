"""What the alert buttons do to an alert's state (the Slack side is bot/listeners/alert_actions.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from storage.database import transaction
from storage.freshness import utcnow
from storage.models import AlertEvent


def acknowledge(engine: Engine, alert_id: int, *, by: str, now: datetime | None = None) -> AlertEvent | None:
    """open/snoozed → acknowledged: someone owns it; it re-fires only if it gets worse."""
    with transaction(engine) as session:
        row = session.get(AlertEvent, alert_id)
        if row is None:
            return None
        if row.state != "resolved":
            row.state = "acknowledged"
            row.acknowledged_by = by[:64]
            row.snoozed_until = None
        session.flush()
        session.expunge(row)
        return row


def snooze(engine: Engine, alert_id: int, *, days: int, by: str, now: datetime | None = None) -> AlertEvent | None:
    """→ snoozed until now + days: silent until then, then it fires again if it still holds."""
    now = now or utcnow()
    with transaction(engine) as session:
        row = session.get(AlertEvent, alert_id)
        if row is None:
            return None
        if row.state != "resolved":
            row.state = "snoozed"
            row.snoozed_until = now + timedelta(days=days)
            row.acknowledged_by = by[:64]
        session.flush()
        session.expunge(row)
        return row
