"""The demo generator's invariants, on a small org (800 deals) with a fixed `today`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from storage.config import RevbotConfig
from storage.demo import demo_personas, has_data, is_seeded, seed_demo, wipe
from storage.demo_calendar import quarter_of, quarters_around
from storage.demo_org import roster, teams_for
from storage.models import Account, Base, CustomerHealth, Deal, DealHistory, Subscription, Target, Team, User

TODAY = date(2026, 11, 23)  # a Monday in fiscal (= calendar) Q4 2026
DEALS = 800


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed_demo(engine, seed=11, deals=DEALS, today=TODAY)
    return engine


def _dump(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for table in Base.metadata.sorted_tables
            if table.name != "sync_runs"  # records when the seed really ran
        }


def test_same_seed_and_day_give_identical_rows(engine: Engine) -> None:
    seed_demo(engine, seed=11, deals=DEALS, today=TODAY)
    first = _dump(engine)
    wipe(engine)
    seed_demo(engine, seed=11, deals=DEALS, today=TODAY)
    assert _dump(engine) == first
    wipe(engine)
    seed_demo(engine, seed=12, deals=DEALS, today=TODAY)
    assert _dump(engine)["deals"] != first["deals"]


def test_org_shape(seeded: Engine) -> None:
    with Session(seeded) as session:
        teams = list(session.scalars(select(Team.name).order_by(Team.id)))
        users = list(session.scalars(select(User)))
        deals = session.scalar(text("SELECT COUNT(*) FROM deals"))
    assert teams == ["NA East", "NA West", "EMEA", "APAC", "Customer Success"]
    roles = defaultdict(int)
    for user in users:
        roles[user.role] += 1
        assert user.email == user.name.lower().replace(" ", ".") + "@acme-demo.example"
    assert dict(roles) == {"exec": 2, "revops": 2, "manager": 4, "rep": 28, "cs": 4}
    by_id = {u.id: u for u in users}
    for rep in (u for u in users if u.role == "rep"):
        manager = by_id[rep.manager_id]
        assert manager.role == "manager" and manager.team_id == rep.team_id
    assert deals == DEALS
    assert is_seeded(seeded) and has_data(seeded)


def test_personas_exist(seeded: Engine) -> None:
    with Session(seeded) as session:
        roles = {e: r for e, r in session.execute(select(User.email, User.role))}
    personas = demo_personas()
    assert roles[personas["rep"]] == "rep"
    assert roles[personas["manager"]] == "manager"
    assert roles[personas["cs"]] == "cs"


def test_closed_deals_closed_in_the_past_and_open_ones_mostly_ahead(seeded: Engine) -> None:
    with Session(seeded) as session:
        deals = list(session.scalars(select(Deal)))
    won = [d for d in deals if d.is_won]
    assert won and all(d.is_closed and d.close_date < TODAY and d.stage == "Closed Won" for d in won)
    lost = [d for d in deals if d.is_closed and not d.is_won]
    assert lost and all(d.close_date < TODAY and d.stage == "Closed Lost" for d in lost)
    open_deals = [d for d in deals if not d.is_closed]
    overdue = [d for d in open_deals if d.close_date < TODAY]
    assert open_deals and 0 < len(overdue) < len(open_deals) / 4
    assert all(d.probability == RevbotConfig().stage(d.stage).probability for d in deals)


def test_deals_span_six_past_quarters_this_one_and_the_next_two(seeded: Engine) -> None:
    quarters = quarters_around(TODAY, 1, before=6, after=2)
    assert quarters[0].start == date(2025, 4, 1) and quarters[-1].end == date(2027, 6, 30)
    with Session(seeded) as session:
        closes = list(session.scalars(select(Deal.close_date)))
    for quarter in quarters:
        assert any(quarter.start <= d <= quarter.end for d in closes), quarter
    assert all(quarters[0].start <= d <= quarters[-1].end for d in closes)


def test_current_stage_is_the_last_stage_in_history(seeded: Engine) -> None:
    with Session(seeded) as session:
        deals = {d.id: d for d in session.scalars(select(Deal))}
        ordered = select(DealHistory).order_by(DealHistory.deal_id, DealHistory.changed_at, DealHistory.id)
        history = list(session.scalars(ordered))
    stages: dict[int, list[DealHistory]] = defaultdict(list)
    for row in history:
        if row.field == "stage":
            stages[row.deal_id].append(row)
    assert set(stages) == set(deals)
    for deal_id, rows in stages.items():
        deal = deals[deal_id]
        assert rows[0].old_value is None and rows[0].changed_at == deal.created_at
        assert rows[-1].new_value == deal.stage
        assert rows[-1].changed_at == deal.stage_entered_at
        # each change starts from where the previous one ended, strictly later
        assert all(a.new_value == b.old_value for a, b in zip(rows, rows[1:], strict=False))
        assert all(a.changed_at < b.changed_at for a, b in zip(rows, rows[1:], strict=False))
        assert deal.stage_entered_at <= datetime.combine(TODAY, datetime.min.time())


def test_history_has_slips_regressions_and_amount_changes(seeded: Engine) -> None:
    config = RevbotConfig()
    with Session(seeded) as session:
        rows = list(session.scalars(select(DealHistory)))
    slips = [r for r in rows if r.field == "close_date" and r.new_value > r.old_value]
    regressions = [
        r for r in rows
        if r.field == "stage" and r.old_value and config.stage_order(r.new_value) < config.stage_order(r.old_value)
    ]
    amounts = [r for r in rows if r.field == "amount"]
    assert len(slips) > DEALS * 0.2 and len(regressions) > DEALS * 0.02 and len(amounts) > DEALS * 0.1


def test_some_open_deals_are_stalled(seeded: Engine) -> None:
    now = datetime.combine(TODAY, datetime.min.time())
    with Session(seeded) as session:
        open_deals = list(session.scalars(select(Deal).where(Deal.is_closed.is_(False))))
    stalled = [d for d in open_deals if now - d.last_activity_at > timedelta(days=21)]
    assert 0 < len(stalled) < len(open_deals) / 2


def test_subscription_chains_are_continuous_and_movements_add_up(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = list(session.scalars(select(Subscription).order_by(Subscription.start_date, Subscription.id)))
    chains: dict[tuple[int, str], list[Subscription]] = defaultdict(list)
    for row in rows:
        chains[(row.account_id, row.product)].append(row)
    assert len(chains) > 500
    kinds = defaultdict(int)
    for chain in chains.values():
        *earlier, last = chain
        assert all(r.status == "superseded" for r in earlier) and last.status in ("active", "canceled")
        assert all(a.end_date == b.start_date for a, b in zip(chain, chain[1:], strict=False))
        new = chain[0].mrr
        expansion = sum(b.mrr - a.mrr for a, b in zip(chain, chain[1:], strict=False) if b.mrr > a.mrr)
        contraction = sum(a.mrr - b.mrr for a, b in zip(chain, chain[1:], strict=False) if b.mrr < a.mrr)
        churn = last.mrr if last.status == "canceled" else 0.0
        current = last.mrr if last.status == "active" else 0.0
        assert new + expansion - contraction - churn == pytest.approx(current, abs=0.005)
        kinds["expansion"] += expansion > 0
        kinds["contraction"] += contraction > 0
        kinds["churn"] += churn > 0
        if last.status == "active":
            assert last.end_date > TODAY  # the next renewal
    assert min(kinds.values()) > 0


def test_targets_cover_every_rep_team_and_quarter(seeded: Engine) -> None:
    quarters = quarters_around(TODAY, 1, before=6, after=2)
    with Session(seeded) as session:
        reps = set(session.scalars(select(User.id).where(User.role == "rep")))
        rep_team = dict(session.execute(select(User.id, User.team_id).where(User.role == "rep")).all())
        targets = list(session.scalars(select(Target)))
    assert all(t.metric == "bookings" and t.amount > 0 for t in targets)
    for quarter in quarters:
        in_quarter = [t for t in targets if (t.period_start, t.period_end) == (quarter.start, quarter.end)]
        assert {t.user_id for t in in_quarter if t.user_id} == reps
        team_totals = defaultdict(float)
        for t in in_quarter:
            if t.user_id:
                team_totals[rep_team[t.user_id]] += t.amount
        team_targets = {t.team_id: t.amount for t in in_quarter if t.team_id}
        assert team_targets == pytest.approx(dict(team_totals))


def test_a_few_customers_are_clearly_at_risk_before_renewal(seeded: Engine) -> None:
    with Session(seeded) as session:
        renewals = dict(
            session.execute(
                select(Subscription.account_id, Subscription.end_date).where(
                    Subscription.status == "active", Subscription.product == "Revbot Platform"
                )
            ).all()
        )
        health = list(session.scalars(select(CustomerHealth).order_by(CustomerHealth.date)))
    series: dict[int, list[CustomerHealth]] = defaultdict(list)
    for row in health:
        series[row.account_id].append(row)
    at_risk = [
        account for account, rows in series.items()
        if account in renewals and (renewals[account] - TODAY).days <= 90
        and rows[-1].health_score < 45 and rows[-1].usage < rows[0].usage - 20
        and rows[-1].open_tickets >= 3 and rows[-1].nps < 0
    ]
    assert 5 <= len(at_risk) <= 15
    assert max(r.date for r in health) == TODAY  # weekly rows on Mondays, up to today


def test_ids_continue_after_the_seed(seeded: Engine) -> None:
    # On PostgreSQL explicit ids must not leave the id sequence behind.
    with Session(seeded) as session, session.begin():
        team = Team(name="Partners")
        session.add(team)
        session.flush()
        assert team.id == 6


def test_fiscal_quarters_follow_the_start_month() -> None:
    quarter = quarter_of(date(2026, 1, 15), 2)  # fiscal year starting in February
    assert (quarter.start, quarter.end) == (date(2025, 11, 1), date(2026, 1, 31))
    quarter = quarter_of(date(2026, 2, 1), 2)
    assert (quarter.start, quarter.end) == (date(2026, 2, 1), date(2026, 4, 30))
    assert quarters_around(date(2026, 11, 23), 1, before=1, after=1)[0].start == date(2026, 7, 1)


def test_non_default_fiscal_year_and_currency(engine: Engine) -> None:
    config = RevbotConfig(fiscal_year_start_month=2, reporting_currency="EUR", fx_rates={"USD": 0.93, "GBP": 1.17})
    summary = seed_demo(engine, seed=3, deals=300, today=TODAY, config=config)
    with Session(engine) as session:
        currencies = set(session.scalars(select(Deal.currency).distinct()))
        starts = set(session.scalars(select(Target.period_start).distinct()))
    assert currencies <= {"EUR", "USD", "GBP"} and "EUR" in currencies
    assert date(2026, 11, 1) in starts  # Nov-Jan is a quarter when the year starts in February
    assert summary.reporting_currency == "EUR" and summary.open_pipeline > 0


def test_a_big_demo_has_a_rep_per_thousand_deals_in_pods_of_eight() -> None:
    people = roster(1_000_000)
    reps = [p for p in people if p.role == "rep"]
    assert len(reps) == 1000
    assert len({p.email for p in people}) == len(people)
    assert people[:40] == roster()  # the named people keep their ids, whatever the deal count
    teams = teams_for(1_000_000)
    assert [t.name for t in teams[5:9]] == ["NA East 2", "NA West 2", "EMEA 2", "APAC 2"]
    for team_id, team in enumerate(teams, start=1):
        members = [p for p in people if p.team_id == team_id]
        if team.is_sales:
            manager = next(p for p in members if p.role == "manager")
            assert all(p.manager_id == manager.id for p in members if p.role == "rep")
            assert 1 <= len(members) - 1 <= 8


def test_a_pod_owns_accounts_in_the_region_of_the_team_it_was_split_from(engine: Engine) -> None:
    seed_demo(engine, seed=5, deals=36_000, today=TODAY)  # 36 reps: one pod of 8
    with Session(engine) as session:
        pod = session.scalars(select(Team).where(Team.name == "NA East 2")).one()
        owned = session.execute(
            select(Account.region, func.count()).join(User, Account.owner_id == User.id)
            .where(User.team_id == pod.id).group_by(Account.region)
        ).all()
        reps = session.scalar(select(func.count()).select_from(User).where(User.role == "rep"))
        deals_by_owner = session.execute(select(Deal.owner_id, func.count()).group_by(Deal.owner_id)).all()
    assert reps == 36 and pod.region == "NA" and pod.segment == "Enterprise"
    assert [region for region, _ in owned] == ["NA"]
    assert len(deals_by_owner) == 36 and min(n for _, n in deals_by_owner) > 300
