"""Exactly-once delivery: a claim on (kind, recipient, period_key) in the `deliveries` table.

APScheduler 3 keeps its jobs in memory, so two scheduler processes (or one restarted) would both
fire the Monday digest. Correctness therefore lives in the database: whoever inserts the row for
(kind, recipient, period) owns the delivery, and the unique key makes the second insert fail.

Life of a claim:

    claimed ──begin_post──▶ posting ──mark_posted──▶ posted        (done; never re-taken)
                                 └────mark_failed──▶ failed         (re-taken on the next run)
    held (data too stale; re-taken on the next run within the grace window)

The dangerous moment is a crash *between* the claim and the post. A claim (`claimed` or
`posting`) whose `claimed_at` is older than the lease can be re-taken by anyone — a
compare-and-set on (status, attempts) makes sure only one taker wins. Re-taking a `claimed` row
is always safe: nothing was sent. Re-taking a `posting` row is not obviously safe: the previous
owner may have crashed after Slack accepted the message but before `mark_posted` committed.
So every message carries a deterministic marker in its Block Kit `metadata`
(`event_type=revbot_delivery`, `event_payload.delivery_key=kind|recipient|period`), and the
re-taker first looks for it in the channel history (`delivery.find_posted`) and, when it is
there, records that ts instead of posting again. Slack's `client_msg_id` is not honoured for
bot posts, and a plain retry could not tell "not sent" from "sent, not recorded", which is why
the marker is needed. The window in which that check matters is tiny anyway: `mark_posted` runs
in its own short transaction right after `chat.postMessage` returns.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.database import transaction
from storage.freshness import utcnow
from storage.models import Delivery

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=10)
RETAKE_ALWAYS = ("failed", "held")
IN_FLIGHT = ("claimed", "posting")


def worker_name() -> str:
    """Who holds a claim, for people reading the deliveries table."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class DeliveryClaim:
    """A claim this process won. `was_in_flight` means a previous owner may have posted already
    (status was `posting`), so look for the message's marker before posting again."""

    id: int
    kind: str
    recipient: str
    period_key: str
    attempts: int
    was_in_flight: bool = False

    @property
    def key(self) -> str:
        return delivery_key(self.kind, self.recipient, self.period_key)


def delivery_key(kind: str, recipient: str, period_key: str) -> str:
    return f"{kind}|{recipient}|{period_key}"


def claim(
    engine: Engine,
    kind: str,
    recipient: str,
    period_key: str,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    worker: str | None = None,
) -> DeliveryClaim | None:
    """Claim one delivery; None when it is posted already or someone else holds a live claim."""
    now = now or utcnow()
    worker = worker or worker_name()
    try:
        with transaction(engine) as session:
            row = Delivery(
                kind=kind,
                recipient=recipient,
                period_key=period_key,
                status="claimed",
                claimed_by=worker,
                claimed_at=now,
                attempts=1,
            )
            session.add(row)
            session.flush()
            return DeliveryClaim(row.id, kind, recipient, period_key, attempts=1)
    except IntegrityError:
        pass  # the row exists: posted, in flight elsewhere, or waiting for a retry
    return _retake(engine, kind, recipient, period_key, now=now, lease=lease, worker=worker)


def _retake(
    engine: Engine, kind: str, recipient: str, period_key: str, *, now: datetime, lease: timedelta, worker: str
) -> DeliveryClaim | None:
    with transaction(engine) as session:
        row = session.scalar(
            select(Delivery).where(
                Delivery.kind == kind, Delivery.recipient == recipient, Delivery.period_key == period_key
            )
        )
        if row is None or row.status == "posted":
            return None
        expired = row.status in IN_FLIGHT and row.claimed_at < now - lease
        if row.status not in RETAKE_ALWAYS and not expired:
            return None
        previous_status, previous_attempts = row.status, row.attempts
        # Compare-and-set: only one of several concurrent re-takers sees rowcount 1.
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == row.id, Delivery.status == previous_status, Delivery.attempts == previous_attempts)
            .values(status="claimed", claimed_by=worker, claimed_at=now, attempts=previous_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None
    if expired:
        log.warning("re-taking expired claim %s (was %s)", delivery_key(kind, recipient, period_key), previous_status)
    return DeliveryClaim(
        row.id, kind, recipient, period_key, attempts=previous_attempts + 1, was_in_flight=previous_status == "posting"
    )


def begin_post(engine: Engine, claim_: DeliveryClaim, *, now: datetime | None = None) -> None:
    """Record that the post is about to happen: from here on a crash leaves an uncertain claim."""
    _set(engine, claim_, status="posting", claimed_at=now or utcnow())


def mark_posted(engine: Engine, claim_: DeliveryClaim, message_ts: str | None, *, now: datetime | None = None) -> None:
    _set(engine, claim_, status="posted", posted_at=now or utcnow(), message_ts=message_ts, error=None)


def mark_failed(engine: Engine, claim_: DeliveryClaim, error: str) -> None:
    """A failed delivery stays visible (status, error) and is re-taken by the next run."""
    _set(engine, claim_, status="failed", error=error[:2000])


def mark_held(engine: Engine, claim_: DeliveryClaim, reason: str) -> None:
    _set(engine, claim_, status="held", error=reason[:2000])


def _set(engine: Engine, claim_: DeliveryClaim, **values: object) -> None:
    with transaction(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == claim_.id, Delivery.attempts == claim_.attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def failed_deliveries(engine: Engine, *, since: datetime | None = None) -> list[Delivery]:
    """Deliveries that did not go out (failed or held), newest first: for `revbot doctor` and
    `/revbot status`."""
    with transaction(engine) as session:
        query = select(Delivery).where(Delivery.status.in_(("failed", "held")))
        if since is not None:
            query = query.where(or_(Delivery.claimed_at >= since, Delivery.posted_at >= since))
        return list(session.scalars(query.order_by(Delivery.claimed_at.desc()).limit(50)))


def delivery_status(engine: Engine, kind: str, recipient: str, period_key: str) -> str | None:
    with transaction(engine) as session:
        return session.scalar(
            select(Delivery.status).where(
                Delivery.kind == kind, Delivery.recipient == recipient, Delivery.period_key == period_key
            )
        )
