"""Who may see what (SPEC "Who may see what"): the caller and the request's Subject become a
Scope, or AccessDenied with a message for the caller.

- rep: their own deals and accounts.
- manager: their team and everyone who reports to them (directly or further down); a manager's
  own book ("self") is that whole team.
- exec, revops: everything.
- cs: accounts, renewals, retention, health and deal cards, without deal amounts unless
  `access.cs_can_see_amounts`; the amount-centred commands need that setting too.

Refusals are logged here and written to the audit log by the dispatcher.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from commands.registry import AccessDenied, Caller, Subject
from storage.config import RevbotConfig
from storage.models import Account, Deal, Team, User
from storage.scope import Scope

log = logging.getLogger(__name__)

EVERYTHING_ROLES = frozenset({"exec", "revops"})
CS_ALWAYS = frozenset({"retention", "renewals", "account", "deal", "revbot"})  # the rest are about deal money


ORG_VIEWER_ROLES = EVERYTHING_ROLES | {"cs"}  # whose questions default to the whole org


def org_viewers(session: Session, config: RevbotConfig) -> frozenset[str]:
    """The (lower-cased) emails of everyone whose role sees the whole org, revbot.toml's roles
    overriding the CRM's."""
    crm_roles = {str(email).strip().lower(): role for email, role in session.execute(select(User.email, User.role))
                 if email}
    roles = {**crm_roles, **{email.strip().lower(): role for email, role in config.roles.items()}}
    return frozenset(email for email, role in roles.items() if role in ORG_VIEWER_ROLES)


def authorize(session: Session, config: RevbotConfig, caller: Caller, command: str, subject: Subject) -> Scope:
    """The Scope this request may read; raises AccessDenied (logged) when it may not."""
    try:
        return _scope_for(session, config, caller, command.lstrip("/"), subject)
    except AccessDenied as refusal:
        log.info("refused %s (%s) /%s %s: %s", caller.email, caller.role, command, subject, refusal)
        raise


def _scope_for(session: Session, config: RevbotConfig, caller: Caller, command: str, subject: Subject) -> Scope:
    if caller.role in EVERYTHING_ROLES:
        return _narrow_to_subject(session, subject) or Scope.everyone()
    if caller.role == "cs":
        return _cs_scope(session, config, command, subject)
    if caller.role == "manager":
        return _manager_scope(session, caller, subject)
    return _rep_scope(session, caller, subject)


def _rep_scope(session: Session, caller: Caller, subject: Subject) -> Scope:
    own = Scope.of_owners("your deals", {caller.user_id})
    if subject.kind in ("self", "deal_search", "none"):
        return own
    if subject.kind == "user" and subject.value == caller.user_id:
        return own
    if subject.kind == "account" and _account_touches(session, subject.value, {caller.user_id}):
        return own
    raise AccessDenied(_refusal(subject, "Reps see their own deals and accounts"))


def _manager_scope(session: Session, caller: Caller, subject: Subject) -> Scope:
    visible = visible_to_manager(session, caller)
    label = _team_label(session, caller.team_id)
    if subject.kind in ("self", "deal_search", "none"):
        return Scope(label=label, owner_ids=frozenset(visible), team_ids=_team_ids(caller))
    if subject.kind == "user" and subject.value in visible:
        return Scope.of_owners(subject.label or _user_name(session, subject.value), {int(subject.value)})
    if subject.kind == "team" and subject.value is not None:
        members = team_member_ids(session, int(subject.value))
        if subject.value == caller.team_id or (members and members <= visible):
            return Scope(label=subject.label or _team_label(session, int(subject.value)),
                         owner_ids=frozenset(members), team_ids=frozenset({int(subject.value)}))
    if subject.kind == "account" and _account_touches(session, subject.value, visible):
        return Scope(label=label, owner_ids=frozenset(visible), team_ids=_team_ids(caller))
    raise AccessDenied(_refusal(subject, "Managers see their own team and the people who report to them"))


def _cs_scope(session: Session, config: RevbotConfig, command: str, subject: Subject) -> Scope:
    amounts = config.access.cs_can_see_amounts
    if command not in CS_ALWAYS and not amounts:
        raise AccessDenied(
            f"/{command} is about deal amounts, which customer success doesn't see here. "
            "Try /account, /renewals or /retention, or ask RevOps to set `access.cs_can_see_amounts`."
        )
    narrowed = _narrow_to_subject(session, subject) or Scope.everyone()
    return Scope(label=narrowed.label, owner_ids=narrowed.owner_ids, team_ids=narrowed.team_ids,
                 show_amounts=amounts)


def _narrow_to_subject(session: Session, subject: Subject) -> Scope | None:
    """For roles that may see everything: a question about one person or team reads just that."""
    if subject.kind == "user" and subject.value is not None:
        return Scope.of_owners(subject.label or _user_name(session, subject.value), {int(subject.value)})
    if subject.kind == "team" and subject.value is not None:
        team_id = int(subject.value)
        return Scope(label=subject.label or _team_label(session, team_id),
                     owner_ids=frozenset(team_member_ids(session, team_id)), team_ids=frozenset({team_id}))
    return None


def _refusal(subject: Subject, rule: str) -> str:
    what = {
        "user": f"{subject.label or 'that person'}'s numbers",
        "team": f"team {subject.label}" if subject.label else "that team",
        "everyone": "the whole company's numbers",
        "account": f"the account {subject.label}" if subject.label else "that account",
        "segment": f"the {subject.label} segment" if subject.label else "that segment",
    }.get(subject.kind, "that")
    return f"Sorry, you can't see {what}. {rule}; ask your manager or RevOps if you need more."


# --- small private queries (the metrics layer owns the shared ones) ---------------------------


def team_member_ids(session: Session, team_id: int) -> set[int]:
    return set(session.scalars(select(User.id).where(User.team_id == team_id)))


def report_ids(session: Session, manager_id: int) -> set[int]:
    """Everyone below a manager, however deep (guards against cycles in bad CRM data)."""
    found: set[int] = set()
    frontier = {manager_id}
    while frontier:
        below = set(session.scalars(select(User.id).where(User.manager_id.in_(frontier)))) - found - {manager_id}
        found |= below
        frontier = below
    return found


def visible_to_manager(session: Session, caller: Caller) -> set[int]:
    visible = {caller.user_id} | report_ids(session, caller.user_id)
    if caller.team_id is not None:
        visible |= team_member_ids(session, caller.team_id)
    return visible


def _account_touches(session: Session, account_id: object, owners: set[int]) -> bool:
    """An account is the caller's when they own it or own a live deal on it."""
    if account_id is None:
        return False
    owner = session.scalar(select(Account.owner_id).where(Account.id == int(account_id)))
    if owner in owners:
        return True
    deal = session.scalar(
        select(Deal.id).where(Deal.account_id == int(account_id), Deal.owner_id.in_(owners),
                              Deal.removed_at.is_(None)).limit(1)
    )
    return deal is not None


def _team_ids(caller: Caller) -> frozenset[int] | None:
    return frozenset({caller.team_id}) if caller.team_id is not None else None


def _team_label(session: Session, team_id: int | None) -> str:
    if team_id is None:
        return "your team"
    return session.scalar(select(Team.name).where(Team.id == team_id)) or "your team"


def _user_name(session: Session, user_id: object) -> str:
    return session.scalar(select(User.name).where(User.id == int(user_id))) or "that person"  # type: ignore[arg-type]
