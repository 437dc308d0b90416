"""Every table takes a row and gives it back unchanged (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.models import (
    Account,
    AlertEvent,
    AuditLog,
    Base,
    CustomerHealth,
    Deal,
    DealHistory,
    Delivery,
    Subscription,
    SyncRun,
    Target,
    Team,
    User,
)

CREATED = datetime(2026, 9, 14, 15, 30, 5, 123456)


def _rows() -> list[Base]:
    team = Team(id=1, name="EMEA", slack_channel_id="C0EMEA001", segment="Mid-Market", region="EMEA")
    manager = User(id=1, crm_id="005A", name="Isabelle Laurent", email="isabelle.laurent@acme-demo.example",
                   slack_user_id="U01", team_id=1, role="manager")
    rep = User(id=2, crm_id="005B", name="Oliver Schmidt", email="oliver.schmidt@acme-demo.example",
               team_id=1, role="rep", manager_id=1)
    account = Account(id=1, crm_id="001A", name="Fjord Analytics Ltd", segment="Mid-Market", industry="Software",
                      region="EMEA", owner_id=2, is_target_account=True)
    deal = Deal(id=1, crm_id="006A", name="Fjord Analytics Ltd - New Business", account_id=1, owner_id=2,
                amount=48_250.75, currency="EUR", stage="Proposal", probability=50.0, forecast_category="Best Case",
                close_date=date(2026, 12, 18), created_at=CREATED, last_activity_at=datetime(2026, 11, 20, 9, 0),
                stage_entered_at=datetime(2026, 11, 2, 10, 0), type="new", source="Inbound", is_closed=False,
                is_won=False, crm_url="https://demo.my.salesforce.com/006A", removed_at=None)
    return [
        team, manager, rep, account, deal,
        DealHistory(id=1, deal_id=1, field="stage", old_value="Needs Analysis", new_value="Proposal",
                    changed_at=datetime(2026, 11, 2, 10, 0)),
        Subscription(id=1, account_id=1, product="Revbot Platform", mrr=4_150.5, currency="EUR",
                     start_date=date(2025, 12, 1), end_date=date(2026, 12, 1), status="active"),
        CustomerHealth(id=1, account_id=1, date=date(2026, 11, 16), health_score=41.5, usage=33.0, open_tickets=4,
                       nps=-20),
        Target(id=1, team_id=1, period_start=date(2026, 10, 1), period_end=date(2026, 12, 31), metric="bookings",
               amount=2_500_000.0),
        AlertEvent(id=1, rule="stalled_deal", fingerprint="stalled_deal:1", subject_type="deal", subject_id=1,
                   severity=35.0, state="open", title="Stalled", details={"days": 35, "reasons": ["no activity"]},
                   route="owner", channel="D01", message_ts="1700000000.000100", first_seen_at=CREATED,
                   last_seen_at=CREATED, last_fired_at=CREATED),
        Delivery(id=1, kind="digest:monday", recipient="C0LEAD", period_key="2026-W48", status="posted",
                 claimed_by="host:1", claimed_at=CREATED, posted_at=CREATED, attempts=1, message_ts="1.2"),
        SyncRun(id=1, source="salesforce", started_at=CREATED, finished_at=CREATED, status="success",
                watermark="2026-09-14T15:30:05Z", stats={"deals": 12}),
        AuditLog(id=1, at=CREATED, slack_user_id="U01", user_id=1, action="/pipeline", arguments="team emea",
                 allowed=True, reason=None),
    ]


def _values(row: Base) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}


def _insert(engine: Engine, rows: list[Base]) -> None:
    with Session(engine) as session, session.begin():
        for row in rows:  # the models declare no relationships, so flush in foreign-key order ourselves
            session.add(row)
            session.flush()


def test_every_table_round_trips(engine: Engine) -> None:
    rows = _rows()
    assert {type(r).__table__.name for r in rows} == set(Base.metadata.tables)
    expected = [(type(r), _values(r)) for r in rows]
    _insert(engine, rows)
    with Session(engine) as session:
        for model, values in expected:
            stored = session.get(model, values["id"])
            assert _values(stored) == values, model.__tablename__


def test_money_reads_back_as_float(engine: Engine) -> None:
    _insert(engine, _rows()[:5])
    with Session(engine) as session:
        amount = session.scalar(select(Deal.amount))
    assert isinstance(amount, float) and amount == 48_250.75
