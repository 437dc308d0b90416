"""The opt-in daily DM to a rep: deals closing soon, stalled deals, close dates already passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metrics.frames import prepare_deals
from metrics.pipeline import past_due_deals, stalled_deals
from storage import queries
from storage.config import RevbotConfig
from storage.models import User
from storage.scope import Scope

CLOSING_DAYS = 14
LIMIT = 10


@dataclass(frozen=True)
class RepDigest:
    user_id: int
    name: str
    email: str
    today: date
    currency: str
    closing_days: int
    closing_soon: list[dict] = field(default_factory=list)
    stalled: list[dict] = field(default_factory=list)
    overdue: list[dict] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.closing_soon or self.stalled or self.overdue)


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "name": r["name"],
            "amount": float(r["amount_rc"]),
            "stage": r["stage"],
            "close_date": r["close_date"].date() if pd.notna(r["close_date"]) else None,
            "crm_url": r["crm_url"] if isinstance(r.get("crm_url"), str) else None,
            "reason": r.get("reason"),
        }
        for _, r in frame.head(LIMIT).iterrows()
    ]


def compute_rep_daily(deals: pd.DataFrame, config: RevbotConfig, *, user_id: int, name: str, email: str,
                      today: date) -> RepDigest:
    frame = prepare_deals(deals, config)
    open_deals = frame[~frame["is_closed"]]
    soon = open_deals[(open_deals["close_date"] >= pd.Timestamp(today))
                      & (open_deals["close_date"] <= pd.Timestamp(today + timedelta(days=CLOSING_DAYS)))]
    return RepDigest(
        user_id=user_id, name=name, email=email, today=today, currency=config.reporting_currency,
        closing_days=CLOSING_DAYS,
        closing_soon=_rows(soon.sort_values(["close_date", "amount_rc"], ascending=[True, False])),
        stalled=_rows(stalled_deals(open_deals, today=today, config=config)),
        overdue=_rows(past_due_deals(open_deals, today=today, config=config)),
    )


def opted_in_reps(session: Session, config: RevbotConfig) -> list[User]:
    emails = list(config.digests.rep_daily_opt_in)
    if not emails:
        return []
    return list(session.scalars(select(User).where(func.lower(User.email).in_(emails)).order_by(User.id)))


def build_rep_daily(session: Session, config: RevbotConfig, user: User, *, today: date) -> RepDigest:
    deals = queries.load_deals(session, Scope.of_owners(user.name, {user.id}), open_only=True)
    return compute_rep_daily(deals, config, user_id=user.id, name=user.name, email=user.email or "", today=today)
