"""A small hand-built org that every command test reads, with the numbers worked out by hand.

Today is Friday 2026-05-15 (Q2 2026 = Apr 1 – Jun 30; fiscal year = calendar year). Money is USD
unless said; the EUR deal converts at the default 1.08.

Teams: EMEA (1, channel C0EMEA), NA (2).
People:
  1 Dana Scully     rep      EMEA  manager 3   slack U0DANA
  2 Fox Mulder      rep      EMEA  manager 3
  3 Walter Skinner  manager  EMEA
  4 Jeffrey Spender rep      NA
  5 Alvin Kersh     exec
  6 Monica Reyes    cs

Accounts: 1 Acme Corp (Dana, Enterprise), 2 Globex (Fox, Mid-Market), 3 Initech (Jeffrey,
Enterprise), 4 "<!channel> & <@U1> <https://evil.example|click>" (Dana, Enterprise).

Deals (stage → probability, forecast category from the default stages):
  1 Acme Expansion   Dana  Acme     100,000 USD Negotiation 75 Commit    close 2026-06-10  act 05-10 stage since 04-20
  2 Acme Renewal     Dana  Acme      50,000 USD Proposal    50 Best Case close 2026-05-01  act 03-01 stage since 03-01
  3 hostile deal     Dana  hostile   20,000 EUR Prospecting 10 Pipeline  close 2026-08-15  act 05-14 stage since 05-01
  4 Acme Won         Dana  Acme      80,000 USD Closed Won            closed 2026-04-15
  5 Globex Platform  Fox   Globex   200,000 USD Qualification 20 Pipeline close 2026-06-30 act 05-12 stage since 04-01
  6 Globex Lost      Fox   Globex    30,000 USD Closed Lost           closed 2026-04-20
  7 Initech Deal     Jeff  Initech   60,000 USD Negotiation 75 Commit    close 2026-06-15  act 05-13 stage since 05-01

Targets Q2 2026 (bookings): Dana 300,000; Fox 250,000; team EMEA 600,000.

Subscriptions (MRR): Acme 10,000 since 2025-06-01, active, renews 2026-06-01 (ARR 120,000);
Globex 5,000 since 2025-01-01, superseded 2026-04-10 by 4,000 until 2027-01-01 (contraction 1,000);
Initech 3,000 since 2025-03-01, canceled 2026-05-01 (churn 3,000); hostile account new 2,000 from
2026-04-15. So Q2: start MRR 18,000, new 2,000, contraction 1,000, churn 3,000, end 16,000;
NRR = GRR = 14,000 / 18,000 = 77.8%; logo churn 1 of 3.
Health: Acme falls from 40 to 35, usage 100 → 60, 6 open tickets, NPS 1 (a risky renewal).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from commands.registry import Caller, CommandContext, ParseContext, Subject
from commands.rendering import Message, validate_blocks
from storage.config import RevbotConfig
from storage.database import session_factory
from storage.models import (
    Account,
    CustomerHealth,
    Deal,
    DealHistory,
    Subscription,
    SyncRun,
    Target,
    Team,
    User,
)
from storage.scope import Scope

TODAY = date(2026, 5, 15)
NOW = datetime(2026, 5, 15, 14, 0)  # naive UTC: 10:00 in New York
HOSTILE = "<!channel> & <@U1> <https://evil.example|click>"

DANA, FOX, WALTER, JEFFREY, ALVIN, MONICA = 1, 2, 3, 4, 5, 6
ACME, GLOBEX, INITECH, HOSTILE_ACCOUNT = 1, 2, 3, 4


def _deal(id_: int, name: str, owner: int, account: int, amount: float, stage: str, **extra: Any) -> Deal:
    probabilities = {"Prospecting": 10, "Qualification": 20, "Proposal": 50, "Negotiation": 75}
    categories = {
        "Prospecting": "Pipeline",
        "Qualification": "Pipeline",
        "Proposal": "Best Case",
        "Negotiation": "Commit",
        "Closed Won": "Closed",
        "Closed Lost": "Omitted",
    }
    closed = stage.startswith("Closed")
    values: dict[str, Any] = dict(
        id=id_,
        crm_id=f"006{id_:04d}",
        name=name,
        owner_id=owner,
        account_id=account,
        amount=amount,
        currency="USD",
        stage=stage,
        probability=100 if stage == "Closed Won" else probabilities.get(stage, 0),
        forecast_category=categories[stage],
        created_at=datetime(2026, 2, 1, 12),
        type="new",
        source="Inbound",
        is_closed=closed,
        is_won=stage == "Closed Won",
        crm_url=f"https://crm.example/opportunity/006{id_:04d}",
    )
    values.update(extra)
    return Deal(**values)


def seed_org(session: Session) -> None:
    session.add_all(
        [
            Team(id=1, name="EMEA", slack_channel_id="C0EMEA", segment="Enterprise", region="EMEA"),
            Team(id=2, name="NA", region="NA"),
        ]
    )
    session.flush()
    session.add_all(
        [
            User(id=WALTER, name="Walter Skinner", email="walter@example.com", role="manager", team_id=1),
            User(id=ALVIN, name="Alvin Kersh", email="alvin@example.com", role="exec"),
            User(id=MONICA, name="Monica Reyes", email="monica@example.com", role="cs"),
        ]
    )
    session.flush()
    session.add_all(
        [
            User(
                id=DANA,
                name="Dana Scully",
                email="dana@example.com",
                role="rep",
                team_id=1,
                manager_id=WALTER,
                slack_user_id="U0DANA",
            ),
            User(id=FOX, name="Fox Mulder", email="fox@example.com", role="rep", team_id=1, manager_id=WALTER),
            User(id=JEFFREY, name="Jeffrey Spender", email="jeffrey@example.com", role="rep", team_id=2),
        ]
    )
    session.flush()
    session.add_all(
        [
            Account(id=ACME, crm_id="001A", name="Acme Corp", segment="Enterprise", owner_id=DANA),
            Account(id=GLOBEX, crm_id="001G", name="Globex", segment="Mid-Market", owner_id=FOX),
            Account(id=INITECH, crm_id="001I", name="Initech", segment="Enterprise", owner_id=JEFFREY),
            Account(id=HOSTILE_ACCOUNT, crm_id="001H", name=HOSTILE, segment="Enterprise", owner_id=DANA),
        ]
    )
    session.flush()
    session.add_all(
        [
            _deal(
                1,
                "Acme Expansion",
                DANA,
                ACME,
                100_000,
                "Negotiation",
                close_date=date(2026, 6, 10),
                last_activity_at=datetime(2026, 5, 10, 15),
                stage_entered_at=datetime(2026, 4, 20, 9),
                type="expansion",
            ),
            _deal(
                2,
                "Acme Renewal",
                DANA,
                ACME,
                50_000,
                "Proposal",
                close_date=date(2026, 5, 1),
                last_activity_at=datetime(2026, 3, 1, 15),
                stage_entered_at=datetime(2026, 3, 1, 9),
                type="renewal",
                created_at=datetime(2026, 1, 10, 12),
            ),
            _deal(
                3,
                HOSTILE,
                DANA,
                HOSTILE_ACCOUNT,
                20_000,
                "Prospecting",
                currency="EUR",
                close_date=date(2026, 8, 15),
                last_activity_at=datetime(2026, 5, 14, 15),
                stage_entered_at=datetime(2026, 5, 1, 9),
                created_at=datetime(2026, 5, 1, 9),
                source="Outbound",
            ),
            _deal(
                4,
                "Acme Won",
                DANA,
                ACME,
                80_000,
                "Closed Won",
                close_date=date(2026, 4, 15),
                last_activity_at=datetime(2026, 4, 15, 15),
                stage_entered_at=datetime(2026, 4, 15, 9),
            ),
            _deal(
                5,
                "Globex Platform",
                FOX,
                GLOBEX,
                200_000,
                "Qualification",
                close_date=date(2026, 6, 30),
                last_activity_at=datetime(2026, 5, 12, 15),
                stage_entered_at=datetime(2026, 4, 1, 9),
                created_at=datetime(2026, 3, 15, 12),
            ),
            _deal(
                6,
                "Globex Lost",
                FOX,
                GLOBEX,
                30_000,
                "Closed Lost",
                close_date=date(2026, 4, 20),
                last_activity_at=datetime(2026, 4, 20, 15),
                stage_entered_at=datetime(2026, 4, 20, 9),
            ),
            _deal(
                7,
                "Initech Deal",
                JEFFREY,
                INITECH,
                60_000,
                "Negotiation",
                close_date=date(2026, 6, 15),
                last_activity_at=datetime(2026, 5, 13, 15),
                stage_entered_at=datetime(2026, 5, 1, 9),
            ),
        ]
    )
    session.add_all(
        [
            DealHistory(
                deal_id=1,
                field="stage",
                old_value="Proposal",
                new_value="Negotiation",
                changed_at=datetime(2026, 4, 20, 9),
            ),
            DealHistory(
                deal_id=1, field="amount", old_value="80000", new_value="100000", changed_at=datetime(2026, 5, 11, 9)
            ),
            DealHistory(
                deal_id=4,
                field="stage",
                old_value="Negotiation",
                new_value="Closed Won",
                changed_at=datetime(2026, 4, 15, 9),
            ),
        ]
    )
    session.add_all(
        [
            Target(user_id=DANA, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=300_000),
            Target(user_id=FOX, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=250_000),
            Target(team_id=1, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=600_000),
        ]
    )
    session.add_all(
        [
            Subscription(
                account_id=ACME,
                product="Platform",
                mrr=10_000,
                start_date=date(2025, 6, 1),
                end_date=date(2026, 6, 1),
                status="active",
            ),
            Subscription(
                account_id=GLOBEX,
                product="Platform",
                mrr=5_000,
                start_date=date(2025, 1, 1),
                end_date=date(2026, 4, 10),
                status="superseded",
            ),
            Subscription(
                account_id=GLOBEX,
                product="Platform",
                mrr=4_000,
                start_date=date(2026, 4, 10),
                end_date=date(2027, 1, 1),
                status="active",
            ),
            Subscription(
                account_id=INITECH,
                product="Platform",
                mrr=3_000,
                start_date=date(2025, 3, 1),
                end_date=date(2026, 5, 1),
                status="canceled",
            ),
            Subscription(
                account_id=HOSTILE_ACCOUNT,
                product="Platform",
                mrr=2_000,
                start_date=date(2026, 4, 15),
                end_date=date(2027, 4, 15),
                status="active",
            ),
            CustomerHealth(account_id=ACME, date=date(2026, 4, 1), health_score=40, usage=100, open_tickets=5, nps=2),
            CustomerHealth(account_id=ACME, date=date(2026, 5, 1), health_score=35, usage=60, open_tickets=6, nps=1),
            CustomerHealth(account_id=GLOBEX, date=date(2026, 5, 1), health_score=85, usage=90, open_tickets=0, nps=9),
        ]
    )
    session.add(
        SyncRun(
            source="import:salesforce",
            started_at=datetime(2026, 5, 15, 6),
            finished_at=datetime(2026, 5, 15, 6, 5),
            status="success",
            stats={"deals": 7},
        )
    )
    session.flush()


@pytest.fixture
def org(engine: Engine) -> Engine:
    with session_factory(engine)() as session, session.begin():
        seed_org(session)
    return engine


@pytest.fixture
def session(org: Engine):
    with session_factory(org)() as session:
        yield session


CALLERS = {
    "dana": Caller(DANA, "Dana Scully", "dana@example.com", "rep", 1, "U0DANA"),
    "fox": Caller(FOX, "Fox Mulder", "fox@example.com", "rep", 1),
    "walter": Caller(WALTER, "Walter Skinner", "walter@example.com", "manager", 1),
    "jeffrey": Caller(JEFFREY, "Jeffrey Spender", "jeffrey@example.com", "rep", 2),
    "alvin": Caller(ALVIN, "Alvin Kersh", "alvin@example.com", "exec", None),
    "monica": Caller(MONICA, "Monica Reyes", "monica@example.com", "cs", None),
}


class Ask:
    """Parse and run a command the way the dispatcher does, with access control from bot/access."""

    def __init__(self, session: Session, config: RevbotConfig) -> None:
        self.session = session
        self.config = config

    def parse(self, command: str, text: str, who: str = "dana") -> tuple[Any, Subject]:
        from commands.registry import get_command

        cmd = get_command(command)
        assert cmd is not None, command
        return cmd.parse(text, ParseContext(self.session, self.config, CALLERS[who], TODAY))

    def __call__(self, command: str, text: str = "", who: str = "dana", scope: Scope | None = None) -> Message:
        from bot.access import authorize
        from commands.registry import get_command

        cmd = get_command(command)
        assert cmd is not None, command
        caller = CALLERS[who]
        args, subject = cmd.parse(text, ParseContext(self.session, self.config, caller, TODAY))
        if scope is None:
            scope = authorize(self.session, self.config, caller, cmd.name, subject)
        message = cmd.run(args, CommandContext(self.session, self.config, caller, scope, TODAY, NOW))
        validate_blocks(message.blocks)
        return message


@pytest.fixture
def ask(session: Session, config: RevbotConfig) -> Ask:
    return Ask(session, config)


def text_of(message: Message) -> str:
    """Everything a user can read in a message: fallback plus every text in every block."""
    parts = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return "\n".join(parts)
