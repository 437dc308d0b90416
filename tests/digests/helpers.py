"""Small helpers shared by the digest tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from storage.config import DigestSchedule, DigestsConfig, RevbotConfig
from storage.database import transaction
from storage.models import Delivery, SyncRun

LEADERSHIP = "C0LEAD"
ADMIN = "C0ADMIN"


def digest_config(*, charts: bool = True, **overrides: object) -> RevbotConfig:
    digests = DigestsConfig(monday=DigestSchedule(cron="0 8 * * mon", channel=LEADERSHIP), admin_channel=ADMIN,
                            charts=charts)
    return RevbotConfig(digests=digests, **overrides)


def record_sync(engine: Engine, at: datetime) -> None:
    with transaction(engine) as session:
        session.add(SyncRun(source="fixture", started_at=at - timedelta(minutes=1), finished_at=at, status="success"))


def deliveries(engine: Engine, kind: str | None = None) -> list[Delivery]:
    with transaction(engine) as session:
        query = select(Delivery).order_by(Delivery.id)
        if kind:
            query = query.where(Delivery.kind == kind)
        return list(session.scalars(query))
