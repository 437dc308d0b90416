"""SQLAlchemy models: the tables in SPEC's data model.

Table and column names are a contract: RevOps teams point BI tools at this database, so rename
nothing without a migration and a note in the changelog.

Conventions:
- Datetimes are naive UTC (SQLite has no time zones; PostgreSQL stores them as `timestamp`).
- Money is `Numeric(18, 2)` read back as float, stored with its ISO currency code; metrics convert
  to the reporting currency with the fx rates from config.
- `deals.probability` is a percentage, 0–100, as Salesforce writes it.
- A subscription row is one product at one MRR for a span of time. A price change ends the row
  (`status = 'superseded'`, `end_date` = day of the change) and starts a new one, so MRR on a date is
  the sum over rows with `start_date <= date` and (`status = 'active'` or `date < end_date`). For an
  active row `end_date` is the next renewal date.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("rep", "manager", "exec", "revops", "cs")
DEAL_TYPES = ("new", "expansion", "renewal")
FORECAST_CATEGORIES = ("Pipeline", "Best Case", "Commit", "Closed", "Omitted")
HISTORY_FIELDS = ("stage", "amount", "close_date", "forecast_category", "owner")
SUBSCRIPTION_STATUSES = ("active", "canceled", "superseded")


def Money() -> Numeric:  # noqa: N802 - reads like a column type
    return Numeric(18, 2, asdecimal=False)


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    segment: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="rep")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    segment: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    is_target_account: Mapped[bool] = mapped_column(Boolean, default=False)


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        # Covering indexes for the questions asked most: one owner's open pipeline and closed deals
        # by close date (every column the rollup reads is in the index, so SQLite never visits the
        # table), and the per-stage medians of time in stage behind the "stalled" rule.
        Index(
            "ix_deals_owner_open", "owner_id", "is_closed", "close_date", "removed_at", "stage",
            "forecast_category", "currency", "is_won", "amount", "created_at", "last_activity_at",
            "stage_entered_at", "probability",
        ),
        Index("ix_deals_owner_stage_age", "owner_id", "is_closed", "stage", "stage_entered_at", "removed_at"),
        Index("ix_deals_open_close_date", "is_closed", "close_date"),
        Index("ix_deals_close_date", "close_date"),
        Index("ix_deals_account", "account_id"),
        Index("ix_deals_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[float] = mapped_column(Money(), default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stage: Mapped[str] = mapped_column(String(80))
    probability: Mapped[float | None] = mapped_column(Float)
    forecast_category: Mapped[str | None] = mapped_column(String(32))
    close_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime)
    stage_entered_at: Mapped[datetime | None] = mapped_column(DateTime)
    type: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(80))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    crm_url: Mapped[str | None] = mapped_column(String(500))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)


class DealHistory(Base):
    __tablename__ = "deal_history"
    __table_args__ = (
        Index("ix_deal_history_deal_changed", "deal_id", "changed_at"),
        # Covers what the week's-movement readers need (digests, alerts, /forecast, /funnel), so a
        # changed_at range is read from the index alone instead of one table lookup per row.
        Index("ix_deal_history_changed", "changed_at", "field", "deal_id", "old_value", "new_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(String(255))
    new_value: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(DateTime)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_end_date", "end_date"),
        Index("ix_subscriptions_account", "account_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    product: Mapped[str] = mapped_column(String(120))
    mrr: Mapped[float] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")


class CustomerHealth(Base):
    __tablename__ = "customer_health"
    __table_args__ = (UniqueConstraint("account_id", "date", name="uq_customer_health_account_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    date: Mapped[date] = mapped_column(Date)
    health_score: Mapped[float | None] = mapped_column(Float)
    usage: Mapped[float | None] = mapped_column(Float)
    open_tickets: Mapped[int | None] = mapped_column(Integer)
    nps: Mapped[int | None] = mapped_column(Integer)


class Target(Base):
    __tablename__ = "targets"
    __table_args__ = (
        CheckConstraint("user_id IS NOT NULL OR team_id IS NOT NULL", name="ck_targets_owner"),
        Index("ix_targets_period", "period_start", "period_end"),
        Index("ix_targets_user", "user_id"),
        Index("ix_targets_team", "team_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(32), default="bookings")
    amount: Mapped[float] = mapped_column(Money())


# --- bookkeeping ---------------------------------------------------------------------------


class AlertEvent(Base):
    """One alert condition, identified by its fingerprint; its state moves open → acknowledged /
    snoozed → resolved, and `severity` lets a worsening condition re-fire."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="open")
    title: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)
    route: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_fired_at: Mapped[datetime | None] = mapped_column(DateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class Delivery(Base):
    """A claim on posting one thing to one recipient for one period; the unique key is what makes
    delivery exactly-once across restarts and concurrent schedulers."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("kind", "recipient", "period_key", name="uq_deliveries_claim"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(64))
    period_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_source_finished", "source", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")
    watermark: Mapped[str | None] = mapped_column(String(64))
    stats: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[str | None] = mapped_column(Text)
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
