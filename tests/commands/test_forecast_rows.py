"""/forecast for named owners on plain rows (`compute_rows`) gives exactly what the frames path
(`compute_frames`, the one every org-wide answer takes) gives: the same forecasts, bridge totals,
movements and moved-deal frame, on the demo org and on history the CRMs write oddly.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from commands import forecast as forecast_command
from commands.registry import CommandContext
from metrics.periods import parse_period
from storage.config import RevbotConfig
from storage.database import session_factory
from storage.demo import seed_demo
from storage.forecast_queries import (
    changed_deal_rows,
    changed_deals_sql,
    closing_rollup_rows,
    closing_rollup_sql,
)
from storage.models import Deal, DealHistory, User
from storage.scope import Scope
from tests.commands.conftest import CALLERS, DANA, FOX, NOW, TODAY

DEMO_TODAY = date(2026, 11, 23)
DEMO_NOW = datetime(2026, 11, 23, 15, 0)
PERIODS = ("", "next quarter", "last quarter", "this month", "FY2026", "2026-11-01 to 2026-11-30")


def assert_same_numbers(rows: forecast_command.ForecastNumbers, frames: forecast_command.ForecastNumbers) -> None:
    assert (rows.week_ago, rows.now, rows.then) == (frames.week_ago, frames.now, frames.then)
    assert (rows.bridge.start_at, rows.bridge.end_at, rows.bridge.period, rows.bridge.currency) == (
        frames.bridge.start_at,
        frames.bridge.end_at,
        frames.bridge.period,
        frames.bridge.currency,
    )
    assert (rows.bridge.start, rows.bridge.end, rows.bridge.movements) == (
        frames.bridge.start,
        frames.bridge.end,
        frames.bridge.movements,
    )
    pd.testing.assert_frame_equal(rows.bridge.deals, frames.bridge.deals)
    assert rows.bridge.balances


def both(ctx: CommandContext, period_text: str, today: date) -> tuple[object, object]:
    period = parse_period(period_text, today=today)
    week_ago = ctx.now - forecast_command.LOOKBACK
    return (
        forecast_command.compute_rows(ctx, period, week_ago),
        forecast_command.compute_frames(ctx, period, week_ago),
    )


def test_rows_equal_frames_for_demo_reps_and_teams(engine: Engine, config: RevbotConfig) -> None:
    seed_demo(engine, deals=3_000, today=DEMO_TODAY, config=config)
    with session_factory(engine)() as session:
        reps = session.scalars(select(User.id).where(User.role == "rep").order_by(User.id)).all()
        team = session.scalars(select(User.id).where(User.team_id == 1)).all()
        scopes = [Scope.of_owners("rep", {rep}) for rep in reps[::3]]
        scopes += [Scope.of_owners("team", set(team)), Scope.of_owners("nobody", set())]
        moved = 0
        for scope in scopes:
            ctx = CommandContext(session, config, CALLERS["dana"], scope, DEMO_TODAY, DEMO_NOW)
            for period_text in PERIODS:
                rows, frames = both(ctx, period_text, DEMO_TODAY)
                assert_same_numbers(rows, frames)  # type: ignore[arg-type]
                moved += len(frames.bridge.deals)  # type: ignore[attr-defined]
        assert moved > 100  # the demo's week moves deals: the comparison is not of empty bridges


def test_rows_read_what_the_frames_read(engine: Engine, config: RevbotConfig) -> None:
    seed_demo(engine, deals=1_500, today=DEMO_TODAY, config=config)
    with session_factory(engine)() as session:
        reps = session.scalars(select(User.id).where(User.role == "rep").order_by(User.id)).all()
        scope = Scope.of_owners("six reps", set(reps[:6]))
        period = parse_period("", today=DEMO_TODAY)
        since = DEMO_NOW - timedelta(days=7)
        exact = ["EUR", "GBP"]
        groups = closing_rollup_rows(session, scope, period, exact_currencies=exact)
        frame = closing_rollup_sql(session, scope, period, exact_currencies=exact)
        assert [tuple(row) for row in groups] == list(
            frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        )
        deals, history = changed_deal_rows(session, scope, period, since=since, today=DEMO_TODAY)
        deal_frame, history_frame = changed_deals_sql(session, scope, period, since=since, today=DEMO_TODAY)
        assert len(deals) > 10 and len(history) > 10
        for rows, frame in ((deals, deal_frame), (history, history_frame)):
            assert [tuple(row) for row in rows] == [
                tuple(None if pd.isna(value) else _plain(value) for value in record)
                for record in frame.itertuples(index=False, name=None)
            ]


def _plain(value: object) -> object:
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def test_changed_deal_rows_are_for_named_owners(session: Session) -> None:
    period = parse_period("Q2", today=TODAY)
    with pytest.raises(ValueError, match="named owners"):
        changed_deal_rows(session, Scope.everyone(), period, since=NOW - timedelta(days=7), today=TODAY)


def _odd_history(session: Session) -> None:
    """Dana's and Fox's week as CRMs sometimes write it: old values missing or unreadable, an empty
    stage, a close date in another format, several changes of one field, cents in foreign
    currencies, and two identical EUR deals (one group per distinct amount)."""
    week = datetime(2026, 5, 9, 9)
    deal_1, deal_3, deal_5 = (session.get(Deal, i) for i in (1, 3, 5))
    assert deal_1 and deal_3 and deal_5
    deal_3.close_date, deal_3.amount = date(2026, 6, 20), 20_000.37
    session.add_all(
        [
            Deal(id=9, name="Twin A", owner_id=DANA, amount=1_234.56, currency="EUR", stage="Proposal",
                 close_date=date(2026, 6, 5), created_at=datetime(2026, 1, 5)),
            Deal(id=10, name="Twin B", owner_id=DANA, amount=1_234.56, currency="EUR", stage="Proposal",
                 close_date=date(2026, 6, 6), created_at=datetime(2026, 5, 12)),
            Deal(id=11, name="Pounds", owner_id=FOX, amount=999.99, currency="GBP", stage="Negotiation",
                 forecast_category="Commit", close_date=date(2026, 5, 30), created_at=datetime(2026, 2, 1)),
            Deal(id=12, name="Won late", owner_id=FOX, amount=5_000, currency="USD", stage="Closed Won",
                 is_closed=True, is_won=True, close_date=date(2026, 5, 13), created_at=datetime(2026, 2, 1)),
        ]
    )  # fmt: skip
    session.add_all(
        [
            # amount: unreadable, then missing, then readable: the first readable one counts
            DealHistory(deal_id=1, field="amount", old_value="n/a", new_value="1", changed_at=week),
            DealHistory(deal_id=1, field="amount", old_value=None, new_value="2", changed_at=week + timedelta(hours=1)),
            DealHistory(deal_id=1, field="stage", old_value="", new_value="Negotiation", changed_at=week),
            DealHistory(deal_id=1, field="forecast_category", old_value=None, new_value="Best Case", changed_at=week),
            DealHistory(deal_id=1, field="forecast_category", old_value="Best Case", new_value="Commit",
                        changed_at=week + timedelta(days=1)),
            # close date: another format, then unreadable
            DealHistory(deal_id=3, field="close_date", old_value="08/15/2026", new_value="2026-07-01", changed_at=week),
            DealHistory(deal_id=3, field="close_date", old_value="soon", new_value="2026-06-20",
                        changed_at=week + timedelta(days=2)),
            DealHistory(deal_id=3, field="amount", old_value="20000.12", new_value="20000.37", changed_at=week),
            # stage only (no category change): the stage's configured category applies a week ago
            DealHistory(deal_id=5, field="stage", old_value="Negotiation", new_value="Qualification",
                        changed_at=week),
            DealHistory(deal_id=9, field="amount", old_value="1000.01", new_value="1234.56", changed_at=week),
            DealHistory(deal_id=11, field="close_date", old_value="2026-07-30", new_value="2026-05-30",
                        changed_at=week),
            DealHistory(deal_id=12, field="close_date", old_value="2026-09-01", new_value="2026-05-13",
                        changed_at=week),
            DealHistory(deal_id=12, field="stage", old_value="Proposal", new_value="Closed Won", changed_at=week),
            # exactly at the week's start: before it, so nothing to undo
            DealHistory(deal_id=5, field="amount", old_value="1", new_value="200000",
                        changed_at=NOW - forecast_command.LOOKBACK),
        ]
    )  # fmt: skip
    session.flush()


@pytest.mark.parametrize("who", ["dana", "fox", "walter"])
@pytest.mark.parametrize("period_text", ["Q2", "Q3", "FY2026", "May 2026"])
def test_rows_equal_frames_and_the_full_rebuild_on_odd_history(
    session: Session, config: RevbotConfig, who: str, period_text: str
) -> None:
    _odd_history(session)
    owners = {"dana": {DANA}, "fox": {FOX}, "walter": {DANA, FOX}}[who]
    ctx = CommandContext(session, config, CALLERS[who], Scope.of_owners(who, owners), TODAY, NOW)
    rows, frames = both(ctx, period_text, TODAY)
    assert_same_numbers(rows, frames)  # type: ignore[arg-type]
    period = parse_period(period_text, today=TODAY)
    full = forecast_command.full_rebuild(ctx, period, NOW - forecast_command.LOOKBACK)
    assert (rows.now, rows.then) == (full.now, full.then)  # type: ignore[attr-defined]
    assert (rows.bridge.start, rows.bridge.end, rows.bridge.movements) == (  # type: ignore[attr-defined]
        full.bridge.start,
        full.bridge.end,
        full.bridge.movements,
    )


def test_compute_takes_rows_for_owners_and_frames_for_everyone(
    session: Session, config: RevbotConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    monkeypatch.setattr(forecast_command, "compute_rows", lambda *args: taken.append("rows"))
    monkeypatch.setattr(forecast_command, "compute_frames", lambda *args: taken.append("frames"))
    period = parse_period("Q2", today=TODAY)
    for scope in (Scope.of_owners("Dana", {DANA}), Scope.everyone()):
        forecast_command.compute(CommandContext(session, config, CALLERS["alvin"], scope, TODAY, NOW), period, NOW)
    assert taken == ["rows", "frames"]
