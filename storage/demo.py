"""The demo org: a believable revenue team, generated deterministically and bulk loaded.

`seed_demo(engine, seed=7, deals=6000, today=...)` builds 4 sales teams and a Customer Success team
(40 people with fixed names and emails at acme-demo.example; past 28,000 deals, more sales pods so
that a rep carries about a thousand deals, see `storage.demo_org`), accounts (a quarter as many as deals,
at least 1,500), deals closing over the last six fiscal quarters, this one and the next two, with
their stage walks in `deal_history`, subscriptions and weekly customer health, and `bookings`
targets per rep and per team for every quarter of the data. Same seed and same `today` give
identical rows (ids included); only the `sync_runs` timestamps record when it really ran.

Everything is written in one transaction, ending with a `sync_runs` row (source `demo`), so a
half-finished seed never looks seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Engine, case, func, or_, select, text
from sqlalchemy.orm import Session

from storage.config import RevbotConfig
from storage.database import loading_connection
from storage.demo_calendar import Quarter, quarters_around
from storage.demo_customers import make_customers
from storage.demo_deals import make_deals
from storage.demo_load import bulk_insert, reset_sequences
from storage.demo_org import TEAMS, Person, email_of, make_accounts, roster, team_rows, teams_for, user_rows
from storage.freshness import newest_successful_sync
from storage.models import (
    Account,
    Base,
    CustomerHealth,
    Deal,
    DealHistory,
    Subscription,
    SyncRun,
    Target,
    Team,
    User,
)

DEMO_SOURCE = "demo"
QUARTERS_BEFORE, QUARTERS_AFTER = 6, 2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoSummary:
    teams: list[str]
    people_by_role: dict[str, int]
    accounts: int
    customers: int
    deals_open: int
    deals_won: int
    deals_lost: int
    history_rows: int
    open_pipeline: float  # reporting currency
    arr: float  # reporting currency, active subscriptions today
    reporting_currency: str
    as_of: date | None
    suggestions: dict[str, str] = field(default_factory=dict)

    @property
    def deals(self) -> int:
        return self.deals_open + self.deals_won + self.deals_lost


def demo_personas() -> dict[str, str]:
    """Emails worth trying `revbot ask --as` with: a rep, a manager (EMEA), an exec and a CSM."""
    people = roster()
    emea = next(i for i, t in enumerate(TEAMS, start=1) if t.name == "EMEA")
    rep = next(p for p in people if p.role == "rep" and p.team_id == emea)
    manager = next(p for p in people if p.role == "manager" and p.team_id == emea)
    execs = [p for p in people if p.role == "exec"]
    cs = next(p for p in people if p.role == "cs")
    return {"rep": rep.email, "manager": manager.email, "exec": execs[-1].email, "cs": cs.email}


def is_seeded(engine: Engine) -> bool:
    """True when a demo seed completed in this database."""
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(SyncRun).where(SyncRun.source == DEMO_SOURCE, SyncRun.status == "success")
        ) > 0


def has_data(engine: Engine) -> bool:
    """True when any people, accounts or deals exist (demo or real)."""
    with Session(engine) as session:
        return any(session.scalar(select(model.id).limit(1)) is not None for model in (User, Account, Deal))


def has_foreign_data(engine: Engine) -> bool:
    """True when the database holds data that did not come from the demo: never wipe that."""
    with Session(engine) as session:
        other_syncs = session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.source != DEMO_SOURCE))
    return bool(other_syncs) or (has_data(engine) and not is_seeded(engine))


def wipe(engine: Engine) -> None:
    """Delete every row of every revbot table (keeps the schema)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


def seed_demo(
    engine: Engine,
    *,
    seed: int = 7,
    deals: int = 6000,
    today: date | None = None,
    config: RevbotConfig | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Generate the demo org and load it in one transaction. The database must be migrated."""
    if deals < 1:
        raise ValueError("deals must be at least 1")
    config = config or RevbotConfig()
    today = today or datetime.now(config.zone).date()
    report = progress or (lambda phase, done, total: None)
    rng = np.random.default_rng(seed)
    started = _utcnow()

    quarters = quarters_around(today, config.fiscal_year_start_month, before=QUARTERS_BEFORE, after=QUARTERS_AFTER)
    people = roster(deals)
    home = config.reporting_currency
    foreign = [c for c in ("EUR", "GBP") if c in config.fx_rates and c != home] or [
        c for c in config.fx_rates if c != home
    ][:2]
    report("generate", 0, 1)
    accounts = make_accounts(
        max(1500, deals // 4), people, rng, home_currency=home, foreign=foreign, teams=teams_for(deals)
    )
    customers = make_customers(accounts, rng, today=today, fx={c: config.fx_rate(c) for c in {home, *foreign}})
    generated = make_deals(
        deals, accounts, customers, rng, config=config, today=today, quarters=quarters, current=QUARTERS_BEFORE
    )
    target_rows = _targets(people, generated.columns, generated.amount_rc, quarters, rng)

    def phase(name: str) -> Callable[[int, int], None]:
        return lambda done, total: report(name, done, total)

    with loading_connection(engine) as connection, connection.begin():
        bulk_insert(connection, Team.__table__, _columns(team_rows(deals)), on_batch=phase("teams"))
        bulk_insert(connection, User.__table__, _columns(user_rows(people)), on_batch=phase("people"))
        bulk_insert(connection, Account.__table__, accounts.rows(), on_batch=phase("accounts"))
        bulk_insert(connection, Deal.__table__, generated.columns, on_batch=phase("deals"))
        bulk_insert(connection, DealHistory.__table__, generated.history, on_batch=phase("history"))
        bulk_insert(connection, Subscription.__table__, customers.subscriptions, on_batch=phase("subscriptions"))
        bulk_insert(connection, CustomerHealth.__table__, customers.health, on_batch=phase("health"))
        bulk_insert(connection, Target.__table__, target_rows, on_batch=phase("targets"))
        reset_sequences(connection, [Team.__table__, User.__table__, Account.__table__, Deal.__table__])
        stats = {
            "seed": seed, "today": today.isoformat(), "deals": deals, "accounts": len(accounts),
            "history": len(generated.history["deal_id"]), "subscriptions": len(customers.subscriptions["mrr"]),
            "health": len(customers.health["account_id"]), "targets": len(target_rows["amount"]),
        }
        connection.execute(
            SyncRun.__table__.insert().values(
                source=DEMO_SOURCE, started_at=started, finished_at=_utcnow(), status="success",
                watermark=today.isoformat(), stats=stats,
            )
        )
    report("done", 1, 1)
    return summarize(engine, config, today=today)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _columns(rows: list[dict[str, object]]) -> dict[str, list]:
    return {key: [row[key] for row in rows] for key in rows[0]}


def _targets(
    people: list[Person],
    deal_columns: dict[str, np.ndarray],
    amount_rc: np.ndarray,
    quarters: list[Quarter],
    rng: np.random.Generator,
) -> dict[str, list]:
    """Bookings targets a bit above each rep's typical won quarter, growing 5% a quarter; a team's
    target is the sum of its reps'. Rounded to 5,000 in the reporting currency."""
    reps = [p for p in people if p.role == "rep"]
    rep_index = {p.id: i for i, p in enumerate(reps)}
    won = deal_columns["is_won"]
    owner = np.array([rep_index.get(o, -1) for o in deal_columns["owner_id"][won].tolist()])
    bookings = np.bincount(owner[owner >= 0], weights=amount_rc[won][owner >= 0], minlength=len(reps))
    past_quarters = QUARTERS_BEFORE
    typical = np.maximum(bookings / past_quarters, 20_000.0)
    columns: dict[str, list] = {k: [] for k in ("user_id", "team_id", "period_start", "period_end", "metric", "amount")}

    def add(user_id: int | None, team_id: int | None, quarter: Quarter, amount: float) -> None:
        columns["user_id"].append(user_id)
        columns["team_id"].append(team_id)
        columns["period_start"].append(quarter.start)
        columns["period_end"].append(quarter.end)
        columns["metric"].append("bookings")
        columns["amount"].append(amount)

    for q, quarter in enumerate(quarters):
        growth = 1.05 ** (q - QUARTERS_BEFORE)
        stretch = rng.uniform(0.95, 1.2, len(reps))
        amounts = np.maximum(np.round(typical * growth * stretch / 5000) * 5000, 5000.0)
        by_team: dict[int, float] = {}
        for rep, amount in zip(reps, amounts.tolist(), strict=True):
            add(rep.id, None, quarter, amount)
            by_team[rep.team_id or 0] = by_team.get(rep.team_id or 0, 0.0) + amount
        for team_id, amount in sorted(by_team.items()):
            add(None, team_id, quarter, amount)
    return columns


def summarize(engine: Engine, config: RevbotConfig, *, today: date | None = None) -> DemoSummary:
    """The headline numbers of whatever is in the database (demo or not)."""
    today = today or datetime.now(config.zone).date()
    with Session(engine) as session:
        teams = list(session.scalars(select(Team.name).order_by(Team.id)))
        roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
        accounts = session.scalar(select(func.count()).select_from(Account)) or 0
        customers = session.scalar(select(func.count(func.distinct(Subscription.account_id)))) or 0
        open_count = won_count = lost_count = 0
        pipeline = 0.0
        rows = session.execute(
            select(Deal.currency, Deal.is_closed, Deal.is_won, func.count(), func.sum(Deal.amount))
            .where(Deal.removed_at.is_(None))
            .group_by(Deal.currency, Deal.is_closed, Deal.is_won)
        ).all()
        for currency, is_closed, is_won, count, amount in rows:
            if not is_closed:
                open_count += count
                pipeline += float(amount or 0) * config.fx_rate(currency)
            elif is_won:
                won_count += count
            else:
                lost_count += count
        live = (Subscription.start_date <= today) & or_(Subscription.status == "active", Subscription.end_date > today)
        arr = sum(
            float(mrr or 0) * 12 * config.fx_rate(currency)
            for currency, mrr in session.execute(
                select(Subscription.currency, func.sum(case((live, Subscription.mrr), else_=0))).group_by(
                    Subscription.currency
                )
            ).all()
        )
        history = session.scalar(select(func.count()).select_from(DealHistory)) or 0
        as_of = newest_successful_sync(session)
    return DemoSummary(
        teams=teams,
        people_by_role={role: roles.get(role, 0) for role in ("rep", "manager", "exec", "revops", "cs")},
        accounts=accounts,
        customers=customers,
        deals_open=open_count,
        deals_won=won_count,
        deals_lost=lost_count,
        history_rows=history,
        open_pipeline=round(pipeline, 2),
        arr=round(arr, 2),
        reporting_currency=config.reporting_currency,
        as_of=as_of.date() if as_of else None,
        suggestions=demo_personas(),
    )


__all__ = ["DemoSummary", "demo_personas", "email_of", "has_data", "is_seeded", "seed_demo", "summarize", "wipe"]
