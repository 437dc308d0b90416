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
from metrics.revenue import target_for_period
from storage.queries import load_targets
from storage.scope import Scope


def target_in_scope(session: Session, scope: Scope, period: Period) -> float | None:
    """The target for the deals `scope` reads in `period`; None when nobody set one."""
    if scope.team_ids and len(scope.team_ids) == 1:
        team = target_for_period(load_targets(session, period=period, team_ids=scope.team_ids), period)
        if team is not None:
            return team
    if scope.is_everyone:
        targets = load_targets(session, period=period)
        teams = targets[targets["team_id"].notna()]
        return target_for_period(teams if len(teams) else targets[targets["user_id"].notna()], period)
    if not scope.owner_ids:
        return None
    return target_for_period(load_targets(session, period=period, user_ids=scope.owner_ids), period)


def user_targets(session: Session, user_ids: set[int], period: Period) -> dict[int, float]:
    """Each person's target in `period` (people without one are left out)."""
    targets = load_targets(session, period=period, user_ids=user_ids)
    found: dict[int, float] = {}
    for user_id, rows in targets[targets["user_id"].notna()].groupby("user_id"):
        amount = target_for_period(rows, period)
        if amount is not None:
            found[int(user_id)] = amount
    return found
