"""Benchmark digests and alerts on a big demo database (docs/benchmarks.md, "Digests and alerts").

    python bench/digest_bench.py --db /tmp/revbot-bench-1m.db --today 2026-11-23

Measures, on one database (seeded with `revbot demo --deals N` / `storage.demo.seed_demo`):
- alerts: one full alert evaluation (load inputs, run every rule, decide against alert_events),
  with the process's peak RSS right after it (ru_maxrss) — goal < 10 s and < 1.5 GB;
- load:   the org's weekly inputs, read once (`digests.weekly.load_weekly_org`: per-owner GROUP BY
  queries, each frame's owners indexed once for the team cuts, and the few deal rows the digests
  can list: per team, those above that team's own list floor) and shared by the Monday digest and
  every team digest, as a digest run does (`digests.runner`);
- monday: compute and render the Monday digest, with its retention summary and renewals at risk;
- teams:  compute and render `--teams` team digests, cycling over the org's teams: each sums its
  members' groups + computes + renders (its target read from the org's). The demo org grows with
  the deal count (about 1,000 deals a rep): the 1M demo built now has 1,000 reps in 127 teams
  (`/tmp/revbot-bench-1m-pods.db`), so 100 digests are 100 real teams; an older 1M demo with 28
  reps in 5 teams (`/tmp/revbot-bench-1m.db`) repeats each team 20 times, each covering a fifth of
  the org;
- chart:  the two PNG charts of one digest (reported separately: they are rendered once per post).
- baseline: the same team digests each from its own scoped load (`build_team` without `org`), in the
  same run; "load + teams / baseline" is what sharing one org load saves.
Goal for load + monday + teams together: < 5 s. Each line gives wall time and, in brackets, this
process's CPU time: the machine is shared, and the difference is time spent waiting for it.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import date

from commands.rendering import render
from digests import charts
from digests.alerts.engine import run_alerts
from digests.monday import build_monday
from digests.team import build_team, team_members, team_recipients
from digests.templates import digest_environment
from digests.weekly import load_weekly_org
from storage.config import RevbotConfig
from storage.database import make_engine, session_factory


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Wall and CPU seconds since `start()`."""

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/revbot-bench-1m.db")
    parser.add_argument("--today", default="2026-11-23")
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--one-connection", action="store_true",
                        help="read one query after another on one connection (as before the digest runner "
                             "read concurrently)")
    args = parser.parse_args()
    today = date.fromisoformat(args.today)
    engine = make_engine(f"sqlite:///{args.db}")
    config = RevbotConfig()
    env = digest_environment(config)
    now = __import__("datetime").datetime(today.year, today.month, today.day, 13, 0)

    with session_factory(engine)() as session:
        deals = session.execute(__import__("sqlalchemy").text("SELECT COUNT(*) FROM deals")).scalar()
    print(f"database: {args.db} ({deals:,} deals), today {today}")

    timer = Timer()
    timer.start()
    report = asyncio.run(run_alerts(engine, None, config, now=now, post=False))
    alerts_s, alerts_cpu = timer.stop()
    fires = sum(1 for p in report.plan if p.decision.action == "fire")
    print(
        f"alerts:  {alerts_s:6.2f} s [cpu {alerts_cpu:5.2f}]  ({report.candidates:,} conditions, "
        f"{fires:,} would fire); peak RSS {peak_rss_mb():,.0f} MB"
    )

    with session_factory(engine)() as session:
        timer.start()
        org = load_weekly_org(session, config, today=today, concurrent=not args.one_connection)
        load_s, load_cpu = timer.stop()
        print(f"load:    {load_s:6.2f} s [cpu {load_cpu:5.2f}]  ({len(org.rollup):,} deal groups, "
              f"{len(org.ages):,} stage-age groups, {len(org.pool):,} listable deal rows)")

        timer.start()
        monday = build_monday(session, config, today=today, inputs=org, concurrent=not args.one_connection)
        message = render(
            env, "weekly.j2", fallback="Monday digest", digest=monday.weekly, retention=monday.retention, as_of="bench"
        )
        monday_s, monday_cpu = timer.stop()
        print(f"monday:  {monday_s:6.2f} s [cpu {monday_cpu:5.2f}]  ({len(message.blocks)} blocks)")

        teams = [t for t in team_recipients(session, config)]
        timer.start()
        members = team_members(session)
        for i in range(args.teams):
            team = teams[i % len(teams)]
            weekly = build_team(session, config, team, today=today, org=org, members=members)
            render(env, "weekly.j2", fallback=weekly.title, digest=weekly, retention=None, as_of="bench")
        teams_s, teams_cpu = timer.stop()
        print(
            f"teams:   {teams_s:6.2f} s [cpu {teams_cpu:5.2f}]  ({args.teams} team digests over {len(teams)} teams, "
            f"{teams_s / args.teams * 1000:.0f} ms each)"
        )
        total, total_cpu = load_s + monday_s + teams_s, load_cpu + monday_cpu + teams_cpu
        print(f"load + monday + teams: {total:6.2f} s [cpu {total_cpu:5.2f}] (goal < 5 s)")

        # The baseline, in the same run: the same team digests each from its own scoped load (what
        # `build_team` does for a single digest), against the shared org load plus the cuts.
        timer.start()
        for i in range(args.teams):
            team = teams[i % len(teams)]
            weekly = build_team(session, config, team, today=today)
            render(env, "weekly.j2", fallback=weekly.title, digest=weekly, retention=None, as_of="bench")
        own_s, own_cpu = timer.stop()
        print(
            f"baseline: {own_s:5.2f} s [cpu {own_cpu:5.2f}]  (the {args.teams} team digests each from its own load); "
            f"load + teams / baseline = {(load_s + teams_s) / own_s:.2f}x"
        )

        timer.start()
        charts.bookings_vs_target_png(monday.weekly)
        charts.pipeline_bridge_png(monday.weekly)
        print(f"charts:  {timer.stop()[0]:6.2f} s  (two PNGs for one digest)")
    print(f"peak RSS overall {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
