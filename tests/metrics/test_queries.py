"""The query layer against a real database (SQLite, or PostgreSQL with REVBOT_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine

from metrics.periods import parse_period
from metrics.pipeline import (
    by_stage_from_aggregate,
    past_due_records,
    pipeline_by_stage,
    pipeline_summary,
    stage_age_medians,
    stalled_records,
    summary_from_groups,
    summary_from_rollup,
)
from metrics.revenue import (
    attainment,
    attainment_by_team,
    attainment_from_groups,
    attainment_from_rollup,
    forecast,
    forecast_from_aggregate,
    forecast_from_groups,
    owner_rollup,
    target_for_period,
    target_from_rows,
)
from storage import queries
from storage.config import RevbotConfig
from storage.database import transaction
from storage.models import Account, CustomerHealth, Deal, DealHistory, Subscription, Target, Team, User
from storage.scope import Scope

TODAY = date(2026, 8, 15)
Q3 = parse_period("2026-Q3", today=TODAY)
ANA, BO, CY, DANA = 1, 2, 3, 4  # Ana and Bo sell in EMEA (Dana manages them); Cy sells in the US


def _deal(id: int, owner: int, amount: float, stage: str, **fields) -> Deal:  # noqa: A002
    won = stage == "Closed Won"
    defaults = dict(
        name=f"Deal {id}",
        currency="USD",
        close_date=date(2026, 9, 1),
        created_at=datetime(2026, 2, 1),
        is_closed=won or stage == "Closed Lost",
        is_won=won,
    )
    return Deal(id=id, owner_id=owner, amount=amount, stage=stage, **{**defaults, **fields})


@pytest.fixture
def org(engine: Engine) -> Engine:
    with transaction(engine) as session:
        session.add_all([Team(id=1, name="EMEA Enterprise"), Team(id=2, name="US Mid-Market")])
        session.flush()
        session.add(User(id=DANA, name="Dana Manager", email="dana@example.com", team_id=1, role="manager"))
        session.flush()
        session.add_all(
            [
                User(id=ANA, name="Ana Rep", email="ana@example.com", team_id=1, manager_id=DANA),
                User(id=BO, name="Bo Rep", email="bo@example.com", team_id=1, manager_id=DANA, slack_user_id="U0BO"),
                User(id=CY, name="Cy Rep", email="cy@example.com", team_id=2),
            ]
        )
        session.flush()
        session.add_all(
            [
                Account(id=1, name="Acme GmbH", owner_id=ANA, segment="Enterprise", is_target_account=True),
                Account(id=2, name="Globex", owner_id=CY, segment="Mid-Market"),
            ]
        )
        session.flush()
        session.add_all(
            [
                _deal(1, ANA, 10_000, "Proposal", account_id=1, crm_id="006A", name="Acme platform"),
                _deal(2, ANA, 2_000, "Negotiation", currency="EUR"),
                _deal(3, ANA, 7_000, "Closed Won", close_date=date(2026, 7, 20)),
                _deal(4, BO, 5_000, "Prospecting", name="100%_discount <!here>"),
                _deal(5, CY, 9_000, "Proposal", account_id=2, name="Globex expansion"),
                _deal(6, CY, 4_000, "Closed Won", close_date=date(2026, 8, 1)),
                _deal(7, ANA, 99_000, "Proposal", removed_at=datetime(2026, 8, 1)),  # deleted in the CRM
                _deal(8, ANA, 1_000, "Closed Lost", close_date=date(2026, 3, 1)),  # closed last year-ish
            ]
        )
        session.flush()
        session.add_all(
            [
                DealHistory(
                    deal_id=1,
                    field="stage",
                    old_value="Qualification",
                    new_value="Proposal",
                    changed_at=datetime(2026, 8, 3),
                ),
                DealHistory(
                    deal_id=5, field="amount", old_value="8000", new_value="9000", changed_at=datetime(2026, 8, 4)
                ),
                DealHistory(
                    deal_id=7,
                    field="stage",
                    old_value="Prospecting",
                    new_value="Proposal",
                    changed_at=datetime(2026, 8, 5),
                ),
                Target(user_id=ANA, period_start=date(2026, 7, 1), period_end=date(2026, 9, 30), amount=50_000),
                Target(team_id=1, period_start=date(2026, 7, 1), period_end=date(2026, 9, 30), amount=80_000),
                Target(user_id=CY, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=1),
                Subscription(
                    account_id=1, product="Platform", mrr=1_000, start_date=date(2025, 1, 1), end_date=date(2026, 10, 1)
                ),
                Subscription(
                    account_id=2, product="Platform", mrr=500, start_date=date(2025, 1, 1), end_date=date(2026, 12, 1)
                ),
                CustomerHealth(account_id=1, date=date(2026, 8, 1), health_score=55, usage=40, open_tickets=2, nps=-10),
            ]
        )
    return engine


def test_a_reps_loader_never_returns_another_owners_deals(org: Engine) -> None:
    with transaction(org) as session:
        ana = queries.load_deals(session, Scope.of_owners("Ana", {ANA}))
        assert sorted(ana["id"]) == [1, 2, 3, 8]  # not 7: removed in the CRM
        assert set(ana["owner_id"]) == {ANA}
        assert queries.load_deals(session, Scope.of_owners("nobody", set())).empty
        everyone = queries.load_deals(session, Scope.everyone(), open_only=True)
        assert sorted(everyone["id"]) == [1, 2, 4, 5]


def test_frame_columns_and_dtypes_are_stable(org: Engine) -> None:
    with transaction(org) as session:
        deals = queries.load_deals(session, Scope.everyone(), deal_ids=[1])
    assert list(deals.columns) == list(queries.DEAL_COLUMNS)
    row = deals.iloc[0]
    assert (row["account_name"], row["owner_name"], row["amount"]) == ("Acme GmbH", "Ana Rep", 10_000.0)
    assert str(deals["close_date"].dtype).startswith("datetime64")
    assert deals["is_closed"].dtype == bool
    assert row["close_date"] == datetime(2026, 9, 1)


def test_filters_combine(org: Engine) -> None:
    with transaction(org) as session:
        everyone = Scope.everyone()
        assert sorted(queries.load_deals(session, everyone, closed_between=Q3)["id"]) == [3, 6]
        assert sorted(queries.load_deals(session, everyone, close_date_between=Q3, open_only=True)["id"]) == [
            1,
            2,
            4,
            5,
        ]
        assert queries.load_deals(session, everyone, created_between=Q3).empty
        # open deals + closed in Q3 (deal 8 closed in March is left out)
        assert sorted(queries.load_pipeline_deals(session, everyone, Q3)["id"]) == [1, 2, 3, 4, 5, 6]


def test_team_scope_and_reports(org: Engine) -> None:
    with transaction(org) as session:
        team = queries.find_team(session, "emea")
        assert team is not None and team.id == 1
        assert queries.team_member_ids(session, team.id) == {ANA, BO, DANA}
        assert queries.reports_of(session, DANA) == {ANA, BO}
        deals = queries.load_deals(
            session, Scope.of_owners("EMEA", queries.team_member_ids(session, 1)), open_only=True
        )
        assert sorted(deals["id"]) == [1, 2, 4]


def test_find_deals_by_crm_id_id_and_name(org: Engine) -> None:
    with transaction(org) as session:
        everyone = Scope.everyone()
        assert queries.find_deals(session, everyone, "006a")["id"].tolist() == [1]
        assert queries.find_deals(session, everyone, "5")["id"].tolist() == [5]
        assert queries.find_deals(session, everyone, "ACME")["id"].tolist() == [1]  # deal name or account name
        assert queries.find_deals(session, everyone, "globex")["id"].tolist() == [5]
        assert queries.find_deals(session, everyone, "100%")["id"].tolist() == [4]  # % is literal
        assert queries.find_deals(session, everyone, "0%_")["id"].tolist() == [4]
        # a rep cannot find another rep's deal, even by id
        assert queries.find_deals(session, Scope.of_owners("Cy", {CY}), "acme").empty
        assert queries.find_deals(session, Scope.of_owners("Cy", {CY}), "1").empty


def test_find_users_and_accounts(org: Engine) -> None:
    with transaction(org) as session:
        assert [u.id for u in queries.find_users(session, "ANA@example.com")] == [ANA]
        assert [u.id for u in queries.find_users(session, "@U0BO")] == [BO]
        assert [u.id for u in queries.find_users(session, "rep")] == [ANA, BO, CY]
        assert queries.find_account(session, None, "acme").id == 1
        assert queries.find_account(session, Scope.of_owners("Cy", {CY}), "acme") is None


def test_history_is_scoped_and_skips_removed_deals(org: Engine) -> None:
    with transaction(org) as session:
        history = queries.load_history(session, Scope.everyone(), since=date(2026, 8, 1))
        assert sorted(history["deal_id"]) == [1, 5]
        assert queries.load_history(session, Scope.of_owners("Cy", {CY}))["deal_id"].tolist() == [5]
        assert queries.load_history(session, Scope.everyone(), until=datetime(2026, 8, 3, 12))["deal_id"].tolist() == [
            1
        ]


def test_targets_subscriptions_and_health(org: Engine) -> None:
    with transaction(org) as session:
        targets = queries.load_targets(session, period=Q3, user_ids=[ANA])
        assert targets["amount"].tolist() == [50_000.0]
        assert sorted(queries.load_targets(session, period=Q3)["amount"]) == [50_000.0, 80_000.0]
        subs = queries.load_subscriptions(session, Scope.of_owners("Ana", {ANA}))
        assert subs["account_name"].tolist() == ["Acme GmbH"]
        health = queries.load_health(session, account_ids=[1])
        assert health[["health_score", "open_tickets", "nps"]].iloc[0].tolist() == [55.0, 2, -10]


def test_sql_aggregates_match_the_dataframe_metrics(org: Engine, config: RevbotConfig) -> None:
    with transaction(org) as session:
        everyone = Scope.everyone()
        deals = queries.load_deals(session, everyone)
        from_sql = by_stage_from_aggregate(queries.pipeline_by_stage_sql(session, everyone), config)
        assert from_sql.to_dict("records") == pipeline_by_stage(deals, config).to_dict("records")
        # Prospecting 5,000; Proposal 10,000 + 9,000; Negotiation EUR 2,000 = 2,160
        assert from_sql["amount"].tolist() == [5_000.0, 19_000.0, 2_160.0]
        aggregate = forecast_from_aggregate(queries.forecast_sql(session, everyone, Q3), Q3, config=config)
        assert aggregate == forecast(deals, Q3, config=config)
        won = queries.closed_won_sql(session, Scope.of_owners("Ana", {ANA}), Q3)
        assert won[["currency", "count", "amount"]].values.tolist() == [["USD", 1, 7_000.0]]
        by_owner = queries.deals_by_owner_sql(session, everyone, won_only=True, close_date_between=Q3)
        assert by_owner[["owner_id", "amount"]].values.tolist() == [[ANA, 7_000.0], [CY, 4_000.0]]


def _stall_and_overdue(session) -> None:
    """Deals 1 and 4 untouched since 1 Jul and in their stage since 1 Jun; deal 5 due on 1 Aug."""
    session.execute(
        Deal.__table__.update()
        .where(Deal.id.in_([1, 4]))
        .values(last_activity_at=datetime(2026, 7, 1), stage_entered_at=datetime(2026, 6, 1))
    )
    session.execute(Deal.__table__.update().where(Deal.id == 5).values(close_date=date(2026, 8, 1)))


def test_sql_fast_path_gives_the_same_pipeline_numbers(org: Engine, config: RevbotConfig) -> None:
    with transaction(org) as session:
        _stall_and_overdue(session)
        medians = {"Proposal": 10.0, "Prospecting": 100.0}
        for scope in (Scope.everyone(), Scope.of_owners("Ana", {ANA})):
            deals = queries.load_pipeline_deals(session, scope, Q3)
            rows = pipeline_summary(deals, period=Q3, config=config, today=TODAY, stage_medians=medians)
            rollup = queries.pipeline_rollup_sql(
                session, scope, Q3, today=TODAY, rules=config.pipeline, stage_medians=medians
            )
            fast = summary_from_rollup(
                rollup,
                past_due=queries.past_due_rows_sql(session, scope, today=TODAY),
                stalled=queries.stalled_rows_sql(
                    session, scope, today=TODAY, rules=config.pipeline, stage_medians=medians
                ),
                period=Q3,
                config=config,
                today=TODAY,
                stage_medians=medians,
            )
            for name in (
                "total", "weighted", "count", "closing_in_period", "closing_in_period_count",
                "created_in_period", "past_due_count", "past_due_amount", "stalled_count", "stalled_amount",
            ):  # fmt: skip
                assert getattr(fast, name) == getattr(rows, name), name
            assert fast.by_stage.equals(rows.by_stage)
            assert fast.by_forecast_category.equals(rows.by_forecast_category)
            assert fast.stalled["id"].tolist() == rows.stalled["id"].tolist()
            assert fast.stalled["reason"].tolist() == rows.stalled["reason"].tolist()
            assert fast.past_due["id"].tolist() == rows.past_due["id"].tolist()
            assert attainment_from_rollup(rollup, period=Q3, target=50_000, config=config, today=TODAY) == attainment(
                deals, period=Q3, target=50_000, config=config, today=TODAY
            )
        # Ana: deal 1 idle since 1 Jul (45 days ≥ 21) and 75 days in Proposal (> 2 × 10); deal 2 was never
        # touched since it was created on 1 Feb (195 days). Biggest first: 10,000 then EUR 2,000 = 2,160.
        assert rows.stalled["id"].tolist() == [1, 2]
        assert rows.stalled["reason"].tolist()[0] == "no activity for 45 days; in Proposal for 75 days (median 10)"


def test_attainment_by_team_from_one_rollup_or_two_owner_sums(org: Engine, config: RevbotConfig) -> None:
    with transaction(org) as session:
        everyone = Scope.everyone()
        users, targets = queries.load_users(session), queries.load_targets(session, period=Q3)
        one_pass = queries.deal_rollup_sql(session, everyone, Q3)
        two_sums = owner_rollup(
            queries.deals_by_owner_sql(session, everyone, won_only=True, close_date_between=Q3),
            queries.deals_by_owner_sql(session, everyone, open_only=True, close_date_between=Q3),
        )
        tables = [
            attainment_by_team(rollup, users, targets, period=Q3, config=config, today=TODAY)
            for rollup in (one_pass, two_sums)
        ]
    assert tables[0].equals(tables[1])
    emea, us = tables[0].to_dict("records")
    # EMEA: won 7,000 (deal 3) vs its own team target 80,000; open closing in Q3: 10,000 + 2,160 + 5,000
    assert (emea["team_name"], emea["closed_won"], emea["target"], emea["gap"]) == (
        "EMEA Enterprise",
        7_000.0,
        80_000.0,
        73_000.0,
    )
    assert emea["attainment"] == 7_000 / 80_000
    assert emea["open_in_period"] == 17_160.0
    # US: won 4,000 (deal 6); Cy's only target is for Q2, so no target → n/a
    assert (us["closed_won"], us["target"], us["attainment"], us["coverage"]) == (4_000.0, None, None, None)


def test_command_path_groups_and_records_give_the_same_numbers_and_lists(org: Engine, config: RevbotConfig) -> None:
    with transaction(org) as session:
        _stall_and_overdue(session)
        medians = {"Proposal": 10.0, "Prospecting": 100.0}
        rules, fx = config.pipeline, config.fx_rates
        overdue: list[list[tuple[int, int, float]]] = []
        for scope in (Scope.everyone(), Scope.of_owners("Ana", {ANA})):
            deals = queries.load_pipeline_deals(session, scope, Q3)
            rows = pipeline_summary(deals, period=Q3, config=config, today=TODAY, stage_medians=medians)
            groups = queries.pipeline_groups_sql(session, scope, Q3, today=TODAY, rules=rules, stage_medians=medians)
            late = past_due_records(
                queries.top_past_due_rows_sql(session, scope, today=TODAY, fx_rates=fx, limit=10),
                today=TODAY,
                config=config,
            )
            stuck = stalled_records(
                queries.top_stalled_rows_sql(
                    session, scope, today=TODAY, rules=rules, stage_medians=medians, fx_rates=fx, limit=10
                ),
                today=TODAY,
                config=config,
                stage_medians=medians,
            )
            fast = summary_from_groups(groups, past_due=late, stalled=stuck, period=Q3, config=config)
            for name in ("total", "weighted", "count", "closing_in_period", "past_due_count", "stalled_amount"):
                assert getattr(fast, name) == getattr(rows, name), name
            assert fast.by_stage.equals(rows.by_stage)
            assert fast.by_forecast_category.equals(rows.by_forecast_category)
            assert [d["id"] for d in stuck] == rows.stalled["id"].tolist()
            assert [d["reason"] for d in stuck] == rows.stalled["reason"].tolist()
            assert [(d["id"], d["days_overdue"]) for d in late] == list(
                zip(rows.past_due["id"], rows.past_due["days_overdue"], strict=True)
            )
            assert attainment_from_groups(groups, period=Q3, target=50_000, config=config, today=TODAY) == attainment(
                deals, period=Q3, target=50_000, config=config, today=TODAY
            )
            closing = [group for group in groups if group.closing]
            assert forecast_from_groups(closing, Q3, config=config) == forecast(deals, Q3, config=config)
            overdue.append([(d["id"], d["days_overdue"], d["amount_rc"]) for d in late])
    # Cy's Globex expansion (9,000, due 1 Aug) is the one overdue deal, 14 days before 15 Aug; Ana has none.
    assert overdue == [[(5, 14, 9_000.0)], []]


def test_targets_as_plain_rows_match_the_frame_path(org: Engine) -> None:
    with transaction(org) as session:
        for owners in ({"user_ids": [ANA, BO]}, {"team_ids": [1]}, {}):
            frame = queries.load_targets(session, period=Q3, **owners)
            rows = queries.load_target_rows(session, period=Q3, **owners)
            assert target_from_rows(rows, Q3) == target_for_period(frame, Q3)


def test_stage_medians_in_sql_match_the_dataframe_medians(org: Engine, config: RevbotConfig) -> None:
    entered = {
        1: datetime(2026, 6, 1, 9), 2: datetime(2026, 7, 30, 23), 4: datetime(2026, 5, 2), 5: datetime(2026, 8, 1)
    }  # fmt: skip
    medians = {}
    with transaction(org) as session:
        for deal_id, at in entered.items():
            moved = {"stage": "Proposal", "stage_entered_at": at}
            session.execute(Deal.__table__.update().where(Deal.id == deal_id).values(**moved))
        for name, scope in (("all", Scope.everyone()), ("ana", Scope.of_owners("Ana", {ANA}))):
            medians[name] = queries.stage_age_medians_sql(session, scope, today=TODAY)
            assert medians[name] == stage_age_medians(queries.load_pipeline_deals(session, scope, Q3), today=TODAY)
    # Everyone's Proposal deals entered on 2 May, 1 Jun, 30 Jul and 1 Aug: the middle two are 75 and 16
    # days before 15 Aug. Ana's deals 1 and 2 are the same middle two.
    assert medians == {"all": {"Proposal": 45.5}, "ana": {"Proposal": 45.5}}


def test_pipeline_owners_are_the_owners_of_the_pipeline_deals(org: Engine) -> None:
    with transaction(org) as session:
        for scope in (Scope.everyone(), Scope.of_owners("Ana and Bo", {ANA, BO}), Scope.of_owners("Cy", {CY})):
            loaded = queries.load_pipeline_deals(session, scope, Q3)
            assert queries.pipeline_owner_ids_sql(session, scope, Q3) == {int(i) for i in loaded["owner_id"]}
        # Cy's only deals: one closed before Q3 and one created in Q3 that closes after it
        session.execute(Deal.__table__.update().where(Deal.id == 5).values(
            is_closed=True, close_date=date(2026, 6, 1)))  # fmt: skip
        session.execute(Deal.__table__.update().where(Deal.id == 6).values(
            created_at=datetime(2026, 7, 10), close_date=date(2026, 10, 5)))  # fmt: skip
        assert CY in queries.pipeline_owner_ids_sql(session, Scope.everyone(), Q3)
        session.execute(Deal.__table__.update().where(Deal.id == 6).values(created_at=datetime(2026, 2, 1)))
        assert CY not in queries.pipeline_owner_ids_sql(session, Scope.everyone(), Q3)


def test_deals_per_owner_include_the_deals_without_an_owner(org: Engine) -> None:
    with transaction(org) as session:
        session.add_all([_deal(20, None, 3_000, "Proposal"), _deal(21, None, 1_500, "Closed Won"),
                         _deal(22, None, 500, "Proposal", currency="EUR")])
    with transaction(org) as session:
        everyone = Scope.everyone()
        still_open = queries.deals_by_owner_sql(session, everyone, open_only=True, close_date_between=Q3)
        won = queries.deals_by_owner_sql(session, everyone, won_only=True, close_date_between=Q3)

    def owner_rows(frame: pd.DataFrame) -> list[list[object]]:
        return [[None if pd.isna(o) else int(o), c, int(n), a] for o, c, n, a in frame.values.tolist()]

    def nulls_where_the_database_sorts_them(nulls: list[list[object]], known: list[list[object]]) -> list[list[object]]:
        return nulls + known if org.dialect.name == "sqlite" else known + nulls  # ORDER BY owner_id

    assert owner_rows(still_open) == nulls_where_the_database_sorts_them(
        [[None, "EUR", 1, 500.0], [None, "USD", 1, 3_000.0]],
        [[ANA, "EUR", 1, 2_000.0], [ANA, "USD", 1, 10_000.0], [BO, "USD", 1, 5_000.0], [CY, "USD", 1, 9_000.0]],
    )
    assert owner_rows(won) == nulls_where_the_database_sorts_them(
        [[None, "USD", 1, 1_500.0]], [[ANA, "USD", 1, 7_000.0], [CY, "USD", 1, 4_000.0]]
    )
