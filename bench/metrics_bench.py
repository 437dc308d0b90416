"""Benchmark the metrics engine on a big demo database (see docs/benchmarks.md, "Metrics").

    python bench/metrics_bench.py --db /tmp/revbot-bench-1m.db --today 2026-11-23

Times, each the median of --repeat runs after one warm-up:
- rep:   one rep's /pipeline numbers (the rep with the most deals) by the path /pipeline takes, without
         its caches: stage-age medians in SQL + pipeline_groups_sql (a GROUP BY per index range) + the
         10 most overdue and 10 biggest stalled deals + target rows + summary, attainment and forecast
         from the groups in plain Python;
- rep (rows): the same numbers from load_pipeline_deals + pipeline_summary/attainment/forecast;
- team:  the same for the biggest team (both ways);
- org:   the whole org's pipeline by stage (pipeline_by_stage_sql) + attainment by team (closed-won and
         open-closing-in-period per owner: two GROUP BYs over narrow close_date index ranges); the
         three queries read at once on their own connections (storage.database.read_concurrently),
         and again one after another;
- floor: one hand-written SQL GROUP BY answering the org-wide pipeline by stage;
- naive: load every deal into pandas (SELECT * FROM deals), then filter and compute the rep's,
         the team's and the org's numbers in pandas (timed once: it is slow).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import func, select, text

from metrics.periods import parse_period
from metrics.pipeline import (
    by_stage_from_aggregate,
    past_due_records,
    pipeline_by_stage,
    pipeline_summary,
    stalled_records,
    summary_from_groups,
)
from metrics.revenue import (
    attainment,
    attainment_by_team,
    attainment_from_groups,
    forecast,
    forecast_from_groups,
    owner_rollup,
    target_for_period,
    target_from_rows,
)
from storage import queries
from storage.config import RevbotConfig
from storage.database import make_engine, read_concurrently, session_factory
from storage.models import Deal, User
from storage.scope import Scope

FLOOR_SQL = (
    "SELECT stage, currency, COUNT(*), SUM(amount) FROM deals "
    "WHERE {open} = {false} AND removed_at IS NULL GROUP BY stage, currency"
)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm-up: page cache, SQLAlchemy statement cache
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/revbot-bench-1m.db", help="SQLite path or database URL")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="ISO date (default: today)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    url = args.db if "://" in args.db else f"sqlite:///{args.db}"
    engine = make_engine(url)
    config = RevbotConfig()
    today = args.today or date.today()
    period = parse_period("this quarter", today=today, fiscal_year_start_month=config.fiscal_year_start_month)
    session = session_factory(engine)()
    false_literal = "false" if engine.dialect.name == "postgresql" else "0"
    # The best plan one hand-written query gets: on SQLite, `+is_closed` makes the planner scan the
    # covering owner index instead of looking up each open deal through the is_closed index (3x the
    # CPU), as revbot's own whole-org reads do.
    open_column = "is_closed" if engine.dialect.name == "postgresql" else "+is_closed"

    deal_count = session.scalar(select(func.count()).select_from(Deal))
    rep_id, rep_deals = session.execute(
        select(Deal.owner_id, func.count()).group_by(Deal.owner_id).order_by(func.count().desc()).limit(1)
    ).one()
    team_id = (
        session.execute(
            select(User.team_id).where(User.team_id.is_not(None)).group_by(User.team_id).order_by(func.count().desc())
        )
        .scalars()
        .first()
    )
    team_members = queries.team_member_ids(session, team_id)
    rep_scope = Scope.of_owners("rep", {rep_id})
    team_scope = Scope.of_owners("team", team_members)

    def pipeline_numbers(scope: Scope, target_owner: dict[str, list[int]]) -> tuple[Any, ...]:
        deals = queries.load_pipeline_deals(session, scope, period, columns=queries.PIPELINE_COLUMNS)
        target = target_for_period(queries.load_targets(session, period=period, **target_owner), period)
        return (
            pipeline_summary(deals, period=period, config=config, today=today),
            attainment(deals, period=period, target=target, config=config, today=today),
            forecast(deals, period, config=config),
        )

    def fast_numbers(scope: Scope, target_owner: dict[str, list[int]]) -> tuple[Any, ...]:
        # What /pipeline computes, without its caches: stage medians from SQL, every number from one
        # grouped query per index range, the ten rows of each list, the target rows.
        medians = queries.stage_age_medians_sql(session, scope, today=today)
        rules, fx = config.pipeline, config.fx_rates
        groups = queries.pipeline_groups_sql(session, scope, period, today=today, rules=rules, stage_medians=medians)
        target = target_from_rows(queries.load_target_rows(session, period=period, **target_owner), period)
        late = queries.top_past_due_rows_sql(session, scope, today=today, fx_rates=fx, limit=10)
        stuck = queries.top_stalled_rows_sql(
            session, scope, today=today, rules=rules, stage_medians=medians, fx_rates=fx, limit=10
        )
        summary = summary_from_groups(
            groups,
            past_due=past_due_records(late, today=today, config=config),
            stalled=stalled_records(stuck, today=today, config=config, stage_medians=medians),
            period=period,
            config=config,
        )
        return (
            summary,
            attainment_from_groups(groups, period=period, target=target, config=config, today=today),
            forecast_from_groups([group for group in groups if group.closing], period, config=config),
        )

    def org_numbers(concurrent: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        everyone = Scope.everyone()
        # The three scans are independent: on their own connections at once (SQLite works while the
        # driver has released the GIL), as digest runs read theirs.
        read = read_concurrently(session, {
            "by_stage": lambda own: queries.pipeline_by_stage_sql(own, everyone),
            "won": lambda own: queries.deals_by_owner_sql(own, everyone, won_only=True, close_date_between=period),
            "open": lambda own: queries.deals_by_owner_sql(own, everyone, open_only=True, close_date_between=period),
        }, concurrent=concurrent)
        by_stage = by_stage_from_aggregate(read["by_stage"], config)
        teams = attainment_by_team(
            owner_rollup(read["won"], read["open"]),
            queries.load_users(session),
            queries.load_targets(session, period=period),
            period=period,
            config=config,
            today=today,
        )
        return by_stage, teams

    def floor() -> list[Any]:
        return session.execute(text(FLOOR_SQL.format(open=open_column, false=false_literal))).all()

    rep_owner, team_owner = {"user_ids": [rep_id]}, {"team_ids": [team_id]}
    rep_time, (rep_summary, rep_attainment, _) = timed(lambda: fast_numbers(rep_scope, rep_owner), args.repeat)
    rep_rows_time, (rep_rows, _, _) = timed(lambda: pipeline_numbers(rep_scope, rep_owner), args.repeat)
    team_time, (team_summary, _, _) = timed(lambda: fast_numbers(team_scope, team_owner), args.repeat)
    team_rows_time, _ = timed(lambda: pipeline_numbers(team_scope, team_owner), args.repeat)
    org_time, (org_by_stage, org_teams) = timed(org_numbers, args.repeat)
    org_serial_time, _ = timed(lambda: org_numbers(concurrent=False), args.repeat)
    floor_time, floor_rows = timed(floor, args.repeat)
    org_stage_time, _ = timed(
        lambda: by_stage_from_aggregate(queries.pipeline_by_stage_sql(session, Scope.everyone()), config), args.repeat
    )

    print(
        f"database: {engine.url.render_as_string(hide_password=True)}  deals: {deal_count:,}  "
        f"today: {today}  period: {period.key}"
    )
    print(
        f"rep {rep_id}: {rep_deals:,} deals, {rep_summary.count:,} open; "
        f"team {team_id}: {len(team_members)} people, {team_summary.count:,} open"
    )
    print(f"{'question':<46}{'median':>10}")
    print(f"{'rep /pipeline numbers':<46}{rep_time * 1000:>8.1f}ms")
    print(f"{'rep /pipeline numbers, row path':<46}{rep_rows_time * 1000:>8.1f}ms")
    print(f"{'team /pipeline numbers':<46}{team_time * 1000:>8.1f}ms")
    print(f"{'team /pipeline numbers, row path':<46}{team_rows_time * 1000:>8.1f}ms")
    print(f"{'org pipeline by stage + attainment by team':<46}{org_time * 1000:>8.1f}ms")
    print(f"{'  the same, one query after another':<46}{org_serial_time * 1000:>8.1f}ms")
    print(f"{'org pipeline by stage alone (pipeline_by_stage_sql)':<46}{org_stage_time * 1000:>8.1f}ms")
    print(f"{'SQL floor: one GROUP BY (pipeline by stage)':<46}{floor_time * 1000:>8.1f}ms")
    print(f"org / floor: {org_time / floor_time:.2f}x   org by stage / floor: {org_stage_time / floor_time:.2f}x")
    floor_total = round(sum(float(r[3]) * config.fx_rate(r[1]) for r in floor_rows), 0)
    print(f"check: org by-stage total {org_by_stage['amount'].sum():,.0f} == floor total {floor_total:,.0f}")
    print(f"check: rep total fast {rep_summary.total:,.2f} == rows {rep_rows.total:,.2f}")
    print(f"rep attainment {rep_attainment.attainment}  teams: {len(org_teams)}")

    if args.skip_naive:
        return
    started = time.perf_counter()
    everything = pd.read_sql_query(text("SELECT * FROM deals"), engine.connect())
    load_time = time.perf_counter() - started

    def naive(owner_ids: set[int] | None) -> float:
        started = time.perf_counter()
        frame = everything[everything["removed_at"].isna()]
        if owner_ids is not None:
            frame = frame[frame["owner_id"].isin(owner_ids)]
        frame = frame.assign(
            close_date=pd.to_datetime(frame["close_date"]), created_at=pd.to_datetime(frame["created_at"])
        )
        pipeline_summary(frame, period=period, config=config, today=today)
        pipeline_by_stage(frame, config)
        return load_time + time.perf_counter() - started

    naive_rep, naive_team, naive_org = naive({rep_id}), naive(team_members), naive(None)
    print(f"naive: load all {len(everything):,} deals into pandas {load_time * 1000:.0f}ms, then filter + compute")
    print(f"{'naive rep':<46}{naive_rep * 1000:>8.0f}ms   engine is {naive_rep / rep_time:.0f}x faster")
    print(f"{'naive team':<46}{naive_team * 1000:>8.0f}ms   engine is {naive_team / team_time:.0f}x faster")
    print(f"{'naive org':<46}{naive_org * 1000:>8.0f}ms   engine is {naive_org / org_time:.0f}x faster")


if __name__ == "__main__":
    main()
