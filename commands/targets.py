"""Which target a question is measured against, for the scope access control granted.

- one team (a manager's own book, `team emea`): the team's target when it has one, else the sum
  of its members' targets;
- one person or a set of people: the sum of their targets;
- everyone: the sum of the team targets when teams have targets, else of every person's.
Prorating (a quarter of an annual target) and summing (the quarters of a year) follow
`metrics.revenue.target_for_period`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from metrics.periods import Period
from metrics.revenue import target_from_rows
from storage.queries import TargetRow, load_target_rows
from storage.scope import Scope


def target_in_scope(session: Session, scope: Scope, period: Period) -> float | None:
    """The target for the deals `scope` reads in `period`; None when nobody set one."""
    if scope.team_ids and len(scope.team_ids) == 1:
        team = target_from_rows(load_target_rows(session, period=period, team_ids=scope.team_ids), period)
        if team is not None:
            return team
    if scope.is_everyone:
        targets = load_target_rows(session, period=period)
        teams = [row for row in targets if row.team_id is not None]
        return target_from_rows(teams or [row for row in targets if row.user_id is not None], period)
    if not scope.owner_ids:
        return None
    return target_from_rows(load_target_rows(session, period=period, user_ids=scope.owner_ids), period)


def user_targets(session: Session, user_ids: set[int], period: Period) -> dict[int, float]:
    """Each person's target in `period` (people without one are left out)."""
    by_user: dict[int, list[TargetRow]] = {}
    for row in load_target_rows(session, period=period, user_ids=user_ids):
        if row.user_id is not None:
            by_user.setdefault(row.user_id, []).append(row)
    found: dict[int, float] = {}
    for user_id in sorted(by_user):
        amount = target_from_rows(by_user[user_id], period)
        if amount is not None:
            found[user_id] = amount
    return found
