"""The audit log: one row per request to revbot, allowed or refused, so RevOps can answer
"who looked at what" and see every refusal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from storage.freshness import utcnow
from storage.models import AuditLog

MAX_ARGUMENT_CHARS = 2000
# On the table, not the ORM entity: a plain Core INSERT skips the ORM bulk-insert machinery.
_INSERT = insert(AuditLog.__table__)


def record(
    session: Session,
    *,
    action: str,
    allowed: bool,
    arguments: str | None = None,
    user_id: int | None = None,
    slack_user_id: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Insert an audit row in `session`'s transaction (the caller commits). Arguments are cut so a
    pasted novel cannot bloat the table. One prepared INSERT rather than an ORM object: every
    request writes a row."""
    session.execute(
        _INSERT,
        {
            "at": at or utcnow(),
            "slack_user_id": slack_user_id,
            "user_id": user_id or None,  # 0 = a person known only from revbot.toml roles, not a CRM user
            "action": action[:64],
            "arguments": (arguments or "")[:MAX_ARGUMENT_CHARS] or None,
            "allowed": allowed,
            "reason": reason,
        },
    )
