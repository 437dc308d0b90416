"""Each team's weekly digest, scoped to the team's members: it never loads another team's deals."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.weekly import (
    WeeklyDigest,
    WeeklyInputs,
    compute_weekly,
    covers,
    load_weekly,
    load_weekly_org,
    targets_of,
    team_slice,
    team_targets,
)
from metrics.periods import fiscal_quarter
from storage import queries
from storage.config import RevbotConfig
from storage.models import Team, User
from storage.scope import Scope


@dataclass(frozen=True)
class TeamRecipient:
    team_id: int
    name: str
    channel: str | None


def team_recipients(session: Session, config: RevbotConfig) -> list[TeamRecipient]:
    """Every team with the channel it posts to (the teams table, else revbot.toml's teams)."""
    configured = {t.name.casefold(): t.channel for t in config.teams}
    return [
        TeamRecipient(team.id, team.name, team.slack_channel_id or configured.get(team.name.casefold()))
        for team in session.scalars(select(Team).order_by(Team.name))
    ]


def team_scope(session: Session, team: TeamRecipient) -> Scope:
    return Scope(label=team.name, owner_ids=frozenset(queries.team_member_ids(session, team.team_id)),
                 team_ids=frozenset({team.team_id}))


def team_members(session: Session) -> dict[int, set[int]]:
    """Every team's member ids, in one query."""
    members: dict[int, set[int]] = {}
    for user_id, team_id in session.execute(select(User.id, User.team_id).where(User.team_id.is_not(None))):
        members.setdefault(int(team_id), set()).add(int(user_id))
    return members


def build_team(session: Session, config: RevbotConfig, team: TeamRecipient, *, today: date,
               org: WeeklyInputs | None = None, members: dict[int, set[int]] | None = None) -> WeeklyDigest:
    """One team's digest: from its own scoped load, or cut from `org` (`load_weekly_org`) when a run
    builds several digests; both give the same digest."""
    title = f"{team.name} weekly digest"
    if org is None:
        scope = team_scope(session, team)
        inputs = load_weekly(session, config, scope, today=today, team_id=team.team_id)
        return compute_weekly(inputs, config, today=today, title=title, scope_label=team.name)
    member_ids = (members if members is not None else team_members(session)).get(team.team_id, set())
    quarter = fiscal_quarter(today, config.fiscal_year_start_month)
    targets = (targets_of(org.every_target, team_id=team.team_id, member_ids=member_ids)
               if org.every_target is not None else team_targets(session, quarter, team_id=team.team_id,
                                                                 member_ids=member_ids))
    inputs = team_slice(org, member_ids, targets)
    if not covers(inputs, member_ids, config, today=today):  # a team the org load did not plan the listed rows for
        inputs = load_weekly(session, config, team_scope(session, team), today=today, team_id=team.team_id)
    return compute_weekly(inputs, config, today=today, title=title, scope_label=team.name)


def build_teams(session: Session, config: RevbotConfig, teams: Iterable[TeamRecipient], *, today: date,
                org: WeeklyInputs | None = None) -> Iterator[tuple[TeamRecipient, WeeklyDigest]]:
    """Every team's weekly digest from one org-wide load (pass `org` to share the Monday digest's):
    the same digests as `build_team` one by one, without re-reading the deals for each team."""
    org = org if org is not None else load_weekly_org(session, config, today=today)
    members = team_members(session)
    for team in teams:
        yield team, build_team(session, config, team, today=today, org=org, members=members)
