"""`sync_runs` bookkeeping: one row per import or sync, with its summary or its error.

The watermark of a source is the one stored on its newest *successful* run, so a failed run
never moves it forward."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from storage.database import transaction
from storage.models import SyncRun


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_run(
    engine: Engine,
    *,
    source: str,
    started_at: datetime,
    status: str,
    stats: dict[str, Any] | None = None,
    watermark: str | None = None,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> int:
    """Write a finished run in its own short transaction (used for failures, after rollback)."""
    with transaction(engine) as session:
        run = SyncRun(
            source=source,
            started_at=started_at,
            finished_at=finished_at or utcnow(),
            status=status,
            stats=stats,
            watermark=watermark,
            error=error[:4000] if error else None,
        )
        session.add(run)
        session.flush()
        return run.id


def last_watermark(engine: Engine, source: str) -> str | None:
    with transaction(engine) as session:
        return session.scalar(
            select(SyncRun.watermark)
            .where(SyncRun.source == source, SyncRun.status == "success", SyncRun.watermark.is_not(None))
            .order_by(SyncRun.finished_at.desc(), SyncRun.id.desc())
            .limit(1)
        )
