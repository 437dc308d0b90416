"""How fresh the data is: "data as of <last successful sync>", and whether that is too old."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import SyncRun


@dataclass(frozen=True)
class Freshness:
    as_of: datetime | None  # naive UTC; None when nothing was ever synced
    stale: bool
    age: timedelta | None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# Built once: every answer asks, up to three times (freshness, cached numbers, stage medians).
_NEWEST_SUCCESS = select(func.max(SyncRun.finished_at)).where(SyncRun.status == "success")


def newest_successful_sync(session: Session) -> datetime | None:
    """When the newest successful sync of any source (import, API sync or demo seed) finished: the
    data version that caches are kept against."""
    return session.scalar(_NEWEST_SUCCESS)


def data_freshness(session: Session, *, stale_after_hours: float, now: datetime | None = None) -> Freshness:
    """Freshness from the newest successful sync of any source (import, API sync or demo seed)."""
    return freshness_as_of(newest_successful_sync(session), stale_after_hours=stale_after_hours, now=now)


def freshness_as_of(as_of: datetime | None, *, stale_after_hours: float, now: datetime | None = None) -> Freshness:
    """Freshness of data whose newest successful sync finished at `as_of`."""
    if as_of is None:
        return Freshness(as_of=None, stale=True, age=None)
    age = (now or utcnow()) - as_of
    return Freshness(as_of=as_of, stale=age > timedelta(hours=stale_after_hours), age=age)
