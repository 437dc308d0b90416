"""The demo org's people, teams and accounts.

The named roster is fixed (no randomness) so that emails like `isabelle.laurent@acme-demo.example`
are stable across seeds and deal counts: tests, docs and `revbot demo`'s "what to try next" rely on
them. A big demo also gets more sales teams ("pods"), because a believable rep carries about a
thousand deals over the demo's nine quarters: an org with a million deals has a thousand reps, not
28 with 36,000 deals each. Pods copy a named team's segment and region and share its accounts;
their people have generated, equally fixed names. Accounts are random but deterministic from the
generator they are given, and scale with the deal count.
"""

from __future__ import annotations

from collections.abc import Iterator
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
DEALS_PER_REP = 1_000  # a high-velocity rep's book over nine quarters: about 450 deals a year
POD_SIZE = 8  # reps in a generated team
_FIRST_NAMES = (
    "Adrian", "Alice", "Bianca", "Caleb", "Camila", "Dario", "Elena", "Felix", "Gabriel", "Greta", "Henrik",
    "Ines", "Ivan", "Jasmine", "Jonas", "Kara", "Leon", "Lina", "Marco", "Maya", "Nadia", "Nikolai", "Omar",
    "Paula", "Quinn", "Rafael", "Rosa", "Simon", "Tara", "Theo", "Uma", "Valentin", "Wendy", "Xavier",
    "Yara", "Zane", "Beatriz", "Connor", "Dalia", "Emil",
)
_LAST_NAMES = (
    "Abbott", "Barros", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallagher", "Haddad", "Ibrahim", "Jansen",
    "Kowalczyk", "Lindqvist", "Moreau", "Novak", "Osei", "Petrov", "Quintero", "Rossi", "Sato", "Silva",
    "Takahashi", "Ulrich", "Vargas", "Wagner", "Xu", "Yilmaz", "Zimmermann", "Bauer", "Costa", "Duarte",
    "Esposito", "Fontaine", "Greco", "Horvat", "Iversen", "Jovanovic", "Keller", "Larsen", "Mancini", "Nakamura",
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


def sales_rep_count(deals: int) -> int:
    """How many sales reps a demo of `deals` deals has: the named 28, or one per DEALS_PER_REP."""
    named = sum(len(t.members) for t in TEAMS if t.is_sales)
    return max(named, round(deals / DEALS_PER_REP))


def teams_for(deals: int = 0) -> tuple[DemoTeam, ...]:
    """The named teams, then as many generated pods as the deal count needs, taking turns over the
    named sales teams (so "NA East 2" follows "APAC", and each pod has POD_SIZE reps)."""
    extra = sales_rep_count(deals) - sales_rep_count(0)
    bases = [t for t in TEAMS if t.is_sales]
    names = _generated_names()
    pods: list[DemoTeam] = []
    for number in range(-(-extra // POD_SIZE)):
        base = bases[number % len(bases)]
        size = min(POD_SIZE, extra - number * POD_SIZE)
        manager, *members = [next(names) for _ in range(size + 1)]
        pods.append(DemoTeam(
            f"{base.name} {number // len(bases) + 2}", f"C0POD{number + 1:04d}", base.segment, base.region,
            manager, tuple(members),
        ))
    return TEAMS + tuple(pods)


def home_team(team: DemoTeam) -> str:
    """The named team a pod was split from (a named team is its own): pods share its accounts."""
    return next(t.name for t in TEAMS if team.name == t.name or team.name.startswith(f"{t.name} "))


def _generated_names() -> Iterator[str]:
    taken = {CEO, CRO, *REVOPS, *(t.manager for t in TEAMS), *(m for t in TEAMS for m in t.members)}
    # every first name once with every last name, the last name moving on by one each time, so
    # that a team is not a family
    for k in range(len(_FIRST_NAMES) * len(_LAST_NAMES)):
        lap, position = divmod(k, len(_FIRST_NAMES))
        name = f"{_FIRST_NAMES[position]} {_LAST_NAMES[(lap + position) % len(_LAST_NAMES)]}"
        if name not in taken:
            yield name
    raise ValueError("the demo has run out of generated names")


def roster(deals: int = 0) -> list[Person]:
    """Everyone in the demo org (see `teams_for`), ids from 1, managers before their reports. The
    named people come first, so their ids do not depend on the deal count."""
    people: list[Person] = []
    by_name: dict[str, int] = {}

    def add(name: str, role: str, team_id: int | None, manager: str | None) -> None:
        people.append(Person(len(people) + 1, name, role, team_id, by_name.get(manager) if manager else None))
        by_name[name] = len(people)

    add(CEO, "exec", None, None)
    add(CRO, "exec", None, CEO)
    for name in REVOPS:
        add(name, "revops", None, CRO)
    for team_id, team in enumerate(teams_for(deals), start=1):
        if team.manager:
            add(team.manager, "manager", team_id, CRO)
        for member in team.members:
            if team.is_sales:
                add(member, "rep", team_id, team.manager)
            else:
                add(member, "cs", team_id, CEO if member == CS_LEAD else CS_LEAD)
    return people


def team_rows(deals: int = 0) -> list[dict[str, object]]:
    return [
        {"id": i, "name": t.name, "slack_channel_id": t.channel, "segment": t.segment, "region": t.region}
        for i, t in enumerate(teams_for(deals), start=1)
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
    count: int,
    people: list[Person],
    rng: np.random.Generator,
    *,
    home_currency: str,
    foreign: list[str],
    teams: tuple[DemoTeam, ...] = TEAMS,
) -> Accounts:
    """Accounts in segments and regions, each owned by a rep of the team covering its region (or of
    one of that team's pods)."""
    team_ids = {t.name: i for i, t in enumerate(TEAMS, start=1)}
    home_of = {i: team_ids[home_team(t)] for i, t in enumerate(teams, start=1)}
    reps_by_team: dict[int, list[int]] = {tid: [] for tid in team_ids.values()}
    for p in people:
        if p.role == "rep" and p.team_id is not None:
            reps_by_team[home_of[p.team_id]].append(p.id)
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
