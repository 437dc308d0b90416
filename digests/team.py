"""Each team's weekly digest, scoped to the team's members: it never loads another team's deals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from digests.weekly import WeeklyDigest, compute_weekly, load_weekly
from storage import queries
from storage.config import RevbotConfig
from storage.models import Team
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


def build_team(session: Session, config: RevbotConfig, team: TeamRecipient, *, today: date) -> WeeklyDigest:
    scope = team_scope(session, team)
    inputs = load_weekly(session, config, scope, today=today, team_id=team.team_id)
    return compute_weekly(inputs, config, today=today, title=f"{team.name} weekly digest", scope_label=team.name)
