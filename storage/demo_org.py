"""The demo org's people, teams and accounts.

The roster is fixed (no randomness) so that emails like `isabelle.laurent@acme-demo.example` are
stable across seeds and deal counts: tests, docs and `revbot demo`'s "what to try next" rely on them.
Accounts are random but deterministic from the generator they are given, and scale with the deal count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEMO_DOMAIN = "acme-demo.example"
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
REGIONS = ("NA", "EMEA", "APAC")


@dataclass(frozen=True)
class DemoTeam:
    name: str
    channel: str
    segment: str | None
    region: str | None
    manager: str | None
    members: tuple[str, ...]
    is_sales: bool = True


TEAMS: tuple[DemoTeam, ...] = (
    DemoTeam(
        "NA East", "C0NAEAST1", "Enterprise", "NA", "Grace Holloway",
        ("Ethan Brooks", "Olivia Chen", "Liam Foster", "Ava Martinez", "Noah Patel", "Mia Sullivan",
         "Lucas Reed", "Chloe Bennett"),
    ),
    DemoTeam(
        "NA West", "C0NAWEST1", "Mid-Market", "NA", "Daniel Kim",
        ("Sofia Alvarez", "Jack Turner", "Emma Nguyen", "Ryan Cooper", "Zoe Hughes", "Owen Price", "Hannah Lee"),
    ),
    DemoTeam(
        "EMEA", "C0EMEA001", "Mid-Market", "EMEA", "Isabelle Laurent",
        ("Oliver Schmidt", "Amelia Clarke", "Lukas Weber", "Chiara Romano", "Hugo Martin", "Freya Andersen",
         "Sam Okonkwo"),
    ),
    DemoTeam(
        "APAC", "C0APAC001", "SMB", "APAC", "Kenji Watanabe",
        ("Aiko Tanaka", "Rohan Mehta", "Mei Lin", "Jun Park", "Ella Thompson", "Arjun Rao"),
    ),
    DemoTeam(
        "Customer Success", "C0CSTEAM1", None, None, None,
        ("Rachel Stone", "Victor Ramos", "Nina Kowalski", "Ben Carter"),
        is_sales=False,
    ),
)
CEO = "Marcus Bell"
CRO = "Dana Whitfield"
REVOPS = ("Priya Raman", "Tom Okafor")
CS_LEAD = "Rachel Stone"


def email_of(name: str) -> str:
    return f"{name.lower().replace(' ', '.')}@{DEMO_DOMAIN}"


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    role: str
    team_id: int | None
    manager_id: int | None

    @property
    def email(self) -> str:
        return email_of(self.name)

    @property
    def crm_id(self) -> str:
        return f"005DM{self.id:010d}"

    @property
    def slack_user_id(self) -> str:
        return f"U0DEMO{self.id:03d}"


def roster() -> list[Person]:
    """Everyone in the demo org, ids from 1, managers before their reports."""
    people: list[Person] = []

    def add(name: str, role: str, team_id: int | None, manager: str | None) -> None:
        manager_id = next((p.id for p in people if p.name == manager), None) if manager else None
        people.append(Person(len(people) + 1, name, role, team_id, manager_id))

    add(CEO, "exec", None, None)
    add(CRO, "exec", None, CEO)
    for name in REVOPS:
        add(name, "revops", None, CRO)
    for team_id, team in enumerate(TEAMS, start=1):
        if team.manager:
            add(team.manager, "manager", team_id, CRO)
        for member in team.members:
            if team.is_sales:
                add(member, "rep", team_id, team.manager)
            else:
                add(member, "cs", team_id, CEO if member == CS_LEAD else CS_LEAD)
    return people


def team_rows() -> list[dict[str, object]]:
    return [
        {"id": i, "name": t.name, "slack_channel_id": t.channel, "segment": t.segment, "region": t.region}
        for i, t in enumerate(TEAMS, start=1)
    ]


def user_rows(people: list[Person]) -> list[dict[str, object]]:
    return [
        {
            "id": p.id, "crm_id": p.crm_id, "name": p.name, "email": p.email, "slack_user_id": p.slack_user_id,
            "team_id": p.team_id, "role": p.role, "manager_id": p.manager_id,
        }
        for p in people
    ]


# --- accounts ------------------------------------------------------------------------------

_NAME_STEMS = (
    "Acorn", "Apex", "Arbor", "Atlas", "Aurora", "Beacon", "Birch", "Blue Harbor", "Bright", "Cedar", "Cobalt",
    "Copper", "Crescent", "Crystal", "Delta", "Eagle", "Ember", "Evergreen", "Falcon", "Fjord", "Granite",
    "Harbor", "Helix", "Horizon", "Iron", "Juniper", "Keystone", "Lakeside", "Lantern", "Lumen", "Maple",
    "Meridian", "Monarch", "Nimbus", "North Star", "Northwind", "Oak", "Orbit", "Pacific", "Peak", "Pine",
    "Pioneer", "Polar", "Prairie", "Quartz", "Redwood", "Ridge", "River", "Sable", "Sage", "Silver", "Solstice",
    "Spruce", "Stellar", "Summit", "Tandem", "Tidal", "Timber", "Trident", "Union", "Vantage", "Vertex",
    "Willow", "Zenith",
)
_NAME_NOUNS = (
    "Analytics", "Biotech", "Capital", "Cloud", "Dynamics", "Energy", "Foods", "Freight", "Health", "Insurance",
    "Labs", "Learning", "Logistics", "Manufacturing", "Media", "Medical", "Mobility", "Networks", "Outfitters",
    "Payments", "Pharma", "Power", "Retail", "Robotics", "Security", "Software", "Systems", "Telecom", "Travel",
    "Ventures",
)
_NAME_SUFFIXES = ("", " Inc", " Ltd", " Group", " Co", " GmbH", " Holdings", " Partners")
INDUSTRIES = (
    "Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Logistics", "Media",
    "Education", "Energy", "Telecommunications", "Public Sector", "Hospitality",
)


def account_names(count: int, rng: np.random.Generator) -> list[str]:
    """Unique company names; past the pool of combinations a number keeps them apart."""
    pool = len(_NAME_STEMS) * len(_NAME_NOUNS) * len(_NAME_SUFFIXES)
    picks = rng.permutation(pool)[: min(count, pool)]
    names = []
    for index in range(count):
        combo = int(picks[index % pool])
        stem, rest = divmod(combo, len(_NAME_NOUNS) * len(_NAME_SUFFIXES))
        noun, suffix = divmod(rest, len(_NAME_SUFFIXES))
        name = f"{_NAME_STEMS[stem]} {_NAME_NOUNS[noun]}{_NAME_SUFFIXES[suffix]}"
        names.append(name if index < pool else f"{name} {index // pool + 1}")
    return names


@dataclass(frozen=True)
class Accounts:
    """Column arrays, one element per account; `id` starts at 1."""

    id: np.ndarray
    name: list[str]
    segment: np.ndarray  # index into SEGMENTS
    region: np.ndarray  # index into REGIONS
    industry: np.ndarray  # index into INDUSTRIES
    owner_id: np.ndarray
    is_target_account: np.ndarray
    currency: np.ndarray  # ISO code per account (deals and subscriptions use it)

    def __len__(self) -> int:
        return len(self.id)

    def rows(self) -> dict[str, object]:
        return {
            "id": self.id,
            "crm_id": [f"001DM{i:010d}" for i in self.id.tolist()],
            "name": self.name,
            "segment": np.array(SEGMENTS, dtype=object)[self.segment],
            "industry": np.array(INDUSTRIES, dtype=object)[self.industry],
            "region": np.array(REGIONS, dtype=object)[self.region],
            "owner_id": self.owner_id,
            "is_target_account": self.is_target_account,
        }


def make_accounts(
    count: int, people: list[Person], rng: np.random.Generator, *, home_currency: str, foreign: list[str]
) -> Accounts:
    """Accounts in segments and regions, each owned by a rep of the team covering its region."""
    team_ids = {t.name: i for i, t in enumerate(TEAMS, start=1)}
    reps_by_team = {tid: [p.id for p in people if p.role == "rep" and p.team_id == tid] for tid in team_ids.values()}
    segment = rng.choice(len(SEGMENTS), size=count, p=[0.15, 0.35, 0.50])
    region = rng.choice(len(REGIONS), size=count, p=[0.50, 0.30, 0.20])
    # North America is split between the two NA teams; the other regions have one team each.
    west = rng.random(count) < 0.5
    team = np.where(region == 0, np.where(west, team_ids["NA West"], team_ids["NA East"]), 0)
    team = np.where(region == 1, team_ids["EMEA"], team)
    team = np.where(region == 2, team_ids["APAC"], team)
    owner_id = np.zeros(count, dtype=np.int64)
    for tid, reps in reps_by_team.items():
        mask = team == tid
        owner_id[mask] = np.array(reps)[rng.integers(0, len(reps), size=int(mask.sum()))]
    target_odds = np.array([0.35, 0.10, 0.03])[segment]
    currency = np.full(count, home_currency, dtype=object)
    if foreign:
        emea = region == 1
        draw = rng.random(count)
        # EMEA deals are mostly in local currency: half in the first foreign one, a quarter in the next.
        currency[emea & (draw < 0.5)] = foreign[0]
        currency[emea & (draw >= 0.5) & (draw < 0.75)] = foreign[-1]
    return Accounts(
        id=np.arange(1, count + 1, dtype=np.int64),
        name=account_names(count, rng),
        segment=segment,
        region=region,
        industry=rng.integers(0, len(INDUSTRIES), size=count),
        owner_id=owner_id,
        is_target_account=rng.random(count) < target_odds,
        currency=currency,
    )
