"""A small, hand-checkable revenue org for bot tests: two teams, their managers and reps, an
exec, a RevOps admin and a CSM, with accounts, open and closed deals, subscriptions, health,
targets and a successful sync. Dates are relative to `today` so "this quarter" always has data.

Every deal name is unique and says whose it is, so role tests can scan replies for names that
must not appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine

from metrics.periods import local_today
from storage.config import RevbotConfig
from storage.database import transaction
from storage.freshness import utcnow
from storage.models import Account, CustomerHealth, Deal, Subscription, SyncRun, Target, Team, User


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    role: str
    team: str | None


@dataclass
class FixtureOrg:
    today: date
    people: dict[str, Person] = field(default_factory=dict)  # by first name, lower case
    teams: dict[str, int] = field(default_factory=dict)  # name → id
    team_channels: dict[str, str] = field(default_factory=dict)  # name → Slack channel id
    deals_by_owner: dict[str, list[str]] = field(default_factory=dict)  # first name → deal names
    accounts: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, first_name: str) -> Person:
        return self.people[first_name.lower()]

    def deals_of(self, *first_names: str) -> set[str]:
        return {deal for name in first_names for deal in self.deals_by_owner.get(name.lower(), [])}

    @property
    def all_deals(self) -> set[str]:
        return {deal for deals in self.deals_by_owner.values() for deal in deals}


def quarter_bounds(today: date) -> tuple[date, date]:
    start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end_month = start.month + 3
    end = date(start.year + (end_month > 12), (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


# (first name, full name, role, team, manager first name)
PEOPLE = (
    ("erin", "Erin Walsh", "exec", None, None),
    ("rita", "Rita Okafor", "revops", None, None),
    ("mona", "Mona Lindqvist", "manager", "EMEA", "erin"),
    ("dana", "Dana Reyes", "rep", "EMEA", "mona"),
    ("omar", "Omar Haddad", "rep", "EMEA", "mona"),
    ("nate", "Nate Brooks", "manager", "North America", "erin"),
    ("priya", "Priya Shah", "rep", "North America", "nate"),
    ("carla", "Carla Diaz", "cs", None, None),
)

# (owner, account, deal name, amount, stage, days to close (negative = closed that many days ago), type)
DEALS = (
    ("dana", "Globex", "Globex Platform Deal", 120_000, "Proposal", 20, "new"),
    ("dana", "Hooli", "Hooli Renewal 2026", 60_000, "Negotiation", 10, "renewal"),
    ("dana", "Globex", "Globex Analytics Add-on", 45_000, "Closed Won", -5, "expansion"),
    ("omar", "Initech", "Initech Expansion", 80_000, "Qualification", 25, "expansion"),
    ("omar", "Initech", "Initech Pilot", 30_000, "Closed Won", -3, "new"),
    ("priya", "Umbrella", "Umbrella Rollout", 200_000, "Negotiation", 15, "new"),
    ("priya", "Umbrella", "Umbrella Lost Bid", 50_000, "Closed Lost", -7, "new"),
)


def seed_fixture_org(engine: Engine, today: date | None = None) -> FixtureOrg:
    # The bot's today is the configured zone's (America/New_York by default), not the machine's:
    # between midnight UTC and midnight in New York the two differ by a day.
    today = today or local_today(RevbotConfig().zone)
    q_start, q_end = quarter_bounds(today)
    org = FixtureOrg(today=today)
    now = datetime.combine(today, time(9, 0))
    with transaction(engine) as session:
        for name, channel in (("EMEA", "C0EMEA"), ("North America", "C0NAMER")):
            team = Team(name=name, slack_channel_id=channel, segment="Enterprise", region=name)
            session.add(team)
            session.flush()
            org.teams[name] = team.id
            org.team_channels[name] = channel
        users: dict[str, User] = {}
        for first, full, role, team_name, manager in PEOPLE:
            user = User(
                crm_id=f"005{first.upper()}",
                name=full,
                email=f"{first}@acme.test",
                role=role,
                team_id=org.teams.get(team_name) if team_name else None,
                manager_id=users[manager].id if manager else None,
            )
            session.add(user)
            session.flush()
            users[first] = user
            org.people[first] = Person(user.id, full, user.email or "", role, team_name)
        for owner, account_name, deal_name, amount, stage, days, deal_type in DEALS:
            if account_name not in org.accounts:
                account = Account(crm_id=f"001{account_name.upper()}", name=account_name, segment="Enterprise",
                                  industry="Software", region=org.people[owner].team, owner_id=users[owner].id)
                session.add(account)
                session.flush()
                org.accounts[account_name] = account.id
            close = min(max(today + timedelta(days=days), q_start), q_end)
            closed = stage.startswith("Closed")
            session.add(
                Deal(
                    crm_id=f"006{len(org.all_deals):04d}",
                    name=deal_name,
                    account_id=org.accounts[account_name],
                    owner_id=users[owner].id,
                    amount=amount,
                    currency="USD",
                    stage=stage,
                    probability={"Proposal": 50, "Negotiation": 75, "Qualification": 20,
                                 "Closed Won": 100}.get(stage, 0),
                    forecast_category={"Proposal": "Best Case", "Negotiation": "Commit",
                                       "Closed Won": "Closed"}.get(stage, "Pipeline" if not closed else "Omitted"),
                    close_date=close,
                    created_at=now - timedelta(days=60),
                    last_activity_at=now - timedelta(days=2),
                    stage_entered_at=now - timedelta(days=9),
                    type=deal_type,
                    source="Outbound",
                    is_closed=closed,
                    is_won=stage == "Closed Won",
                    crm_url=f"https://acme.my.salesforce.com/006{len(org.all_deals):04d}",
                )
            )
            org.deals_by_owner.setdefault(owner, []).append(deal_name)
        for index, account_id in enumerate(org.accounts.values()):
            session.add(Subscription(account_id=account_id, product="Platform", mrr=5_000 + 1_000 * index,
                                     currency="USD", start_date=today - timedelta(days=300),
                                     end_date=today + timedelta(days=30 + 20 * index), status="active"))
            session.add(CustomerHealth(account_id=account_id, date=today - timedelta(days=1),
                                       health_score=40 + 15 * index, usage=0.5 + 0.1 * index,
                                       open_tickets=3 - index if index < 3 else 0, nps=20 + 10 * index))
        for first in ("dana", "omar", "priya"):
            session.add(Target(user_id=users[first].id, period_start=q_start, period_end=q_end, amount=300_000))
        for team_id in org.teams.values():
            session.add(Target(team_id=team_id, period_start=q_start, period_end=q_end, amount=600_000))
        synced = utcnow() - timedelta(minutes=10)
        session.add(SyncRun(source="fixture", started_at=synced - timedelta(minutes=1), finished_at=synced,
                            status="success"))
    return org
