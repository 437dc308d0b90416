"""`storage.deal_queries.find_deals_fast` finds the same deals, in the same order, as
`storage.queries.find_deals`, and `exact_account_sql` the account an exact name or CRM id names."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from commands.arguments import find_one_account
from storage.deal_queries import exact_account_sql, find_deal_ids, find_deals_fast, searchable_deals
from storage.models import Account, Deal
from storage.queries import find_deals
from storage.scope import Scope
from tests.commands.conftest import ACME, DANA, FOX, JEFFREY

SCOPES = {
    "rep": Scope.of_owners("your deals", {DANA}),
    "team": Scope.of_owners("EMEA", {DANA, FOX}),
    # More owners than OWNER_INDEX_MAX_OWNERS: the owner filter is applied during a scan.
    "wide": Scope.of_owners("many", {DANA, FOX, JEFFREY, 97, 98, 99}),
    "everyone": Scope.everyone(),
    "nobody": Scope.of_owners("nobody", set()),
}
NEEDLES = ["acme", "ACME", "globex", "0060001", "1", "4", "e", "%", "_", "no such deal", "<!channel>", "Acme Won"]


@pytest.mark.parametrize("scope_name", sorted(SCOPES))
@pytest.mark.parametrize("needle", NEEDLES)
def test_same_deals_in_the_same_order_as_find_deals(session: Session, scope_name: str, needle: str) -> None:
    scope = SCOPES[scope_name]
    fast = find_deals_fast(session, scope, needle, limit=50)
    assert fast.equals(find_deals(session, scope, needle, limit=50))


def test_limit_keeps_open_deals_first_then_biggest(session: Session) -> None:
    found = find_deals_fast(session, Scope.everyone(), "acme", limit=2)
    # Acme Expansion ($100K, open) before Acme Renewal ($50K, open); the won $80K deal comes later.
    assert found["name"].tolist() == ["Acme Expansion", "Acme Renewal"]


def test_crm_id_matches_in_any_case(session: Session) -> None:
    assert find_deals_fast(session, Scope.everyone(), "0060001".upper(), limit=50)["id"].tolist() == [1]


def test_exact_account_by_name_in_another_case_or_by_crm_id(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        assert exact_account_sql(session, "ACME corp") is None  # PostgreSQL: the shared lookup decides
        return
    account = exact_account_sql(session, "ACME corp")
    assert account is not None and account.id == ACME
    assert account.id == find_one_account(session, "ACME corp").id
    by_crm_id = exact_account_sql(session, "001A")
    assert by_crm_id is not None and by_crm_id.id == ACME


def test_exact_account_leaves_part_of_a_name_and_ties_to_the_shared_lookup(session: Session) -> None:
    assert exact_account_sql(session, "acme") is None  # only part of the name
    session.add(Account(id=50, crm_id="001X", name="ACME CORP", owner_id=DANA))
    session.flush()
    assert exact_account_sql(session, "acme corp") is None  # two accounts differ only in case


@pytest.mark.parametrize("scope_name", sorted(SCOPES))
@pytest.mark.parametrize("needle", ["acme", "globex", "orphan", "gone"])
def test_removed_and_accountless_deals_as_find_deals(session: Session, scope_name: str, needle: str) -> None:
    """Org-wide and wide scopes search deals by name and by account in two arms (`_matching_statement`):
    a removed deal matching either way stays out, a deal matching both ways comes once, and a deal
    without an account is found by its own name."""
    from datetime import datetime

    from tests.commands.conftest import _deal

    session.add_all(
        [
            _deal(20, "Acme gone", DANA, ACME, 500_000, "Negotiation", removed_at=datetime(2026, 5, 1)),
            _deal(21, "Globex gone", FOX, 2, 5_000, "Proposal", removed_at=datetime(2026, 5, 1)),
            _deal(22, "orphan deal", FOX, None, 7_000, "Proposal"),  # type: ignore[arg-type]
            _deal(23, "Acme add-on", JEFFREY, ACME, 100_000, "Proposal"),  # ties Acme Expansion's amount
        ]
    )
    session.flush()
    scope = SCOPES[scope_name]
    fast = find_deals_fast(session, scope, needle, limit=50)
    assert fast.equals(find_deals(session, scope, needle, limit=50))
    assert 20 not in set(fast["id"]) and 21 not in set(fast["id"])


# --- a rep's or manager's search in the deal names the warm-up kept ------------------------------

TRICKY_NAMES = {
    30: "ÉCOLE Straße Renewal",
    31: "école upsell",
    32: "İstanbul Expansion",
    33: "KELVIN \u212a pilot",
    34: "100% Growth_Plan",
    35: "back\\slash deal",
    36: "Acme\tTabbed",
}


def _add_tricky_deals(session: Session) -> None:
    from datetime import datetime

    from tests.commands.conftest import _deal

    deals = [_deal(deal_id, name, DANA, ACME, 10_000 * deal_id, "Proposal") for deal_id, name in TRICKY_NAMES.items()]
    deals += [
        _deal(37, "no amount deal", DANA, None, None, "Proposal"),  # type: ignore[arg-type]
        _deal(38, "Acme removed", DANA, ACME, 5_000, "Proposal", removed_at=datetime(2026, 5, 1)),
        _deal(39, "same amount school", FOX, ACME, 310_000, "Proposal"),  # ties "ÉCOLE …" on amount
    ]
    session.add_all(deals)
    session.flush()


IN_MEMORY_NEEDLES = [*NEEDLES, "école", "ÉCOLE", "Ecole", "straße", "STRASSE", "i̇stanbul", "istanbul", "k pilot",
                     "\u212a", "kelvin", "100%", "_plan", "\\", "\t", "acme\ttab", "renewal", "amount", "a", " "]


@pytest.mark.parametrize("scope_name", ["rep", "team", "wide", "nobody"])
def test_searching_the_kept_names_finds_what_sql_finds_in_the_same_order(session: Session, scope_name: str) -> None:
    _add_tricky_deals(session)
    scope = SCOPES[scope_name]
    searchable = searchable_deals(session, scope)
    if session.get_bind().dialect.name != "sqlite":
        assert searchable is None  # PostgreSQL's lower() follows its locale: searches stay in SQL
        return
    assert searchable is not None
    for needle in IN_MEMORY_NEEDLES:
        for limit in (50, 2):
            in_sql = find_deal_ids(session, scope, needle, limit=limit)
            assert find_deal_ids(session, scope, needle, limit=limit, searchable=searchable) == in_sql, (needle, limit)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(needle=st.text(alphabet="acmeéÉßSsKk\u212aİi%_\\\t ", min_size=1, max_size=4))
def test_any_needle_finds_the_same_deals_in_kept_names_as_in_sql(session: Session, needle: str) -> None:
    if session.get_bind().dialect.name != "sqlite":
        return
    if not session.get(Deal, 30):
        _add_tricky_deals(session)
    scope = SCOPES["team"]
    searchable = searchable_deals(session, scope)
    expected = find_deal_ids(session, scope, needle, limit=50)
    assert find_deal_ids(session, scope, needle, limit=50, searchable=searchable) == expected


def test_a_name_holding_the_field_separator_keeps_the_search_in_sql(session: Session) -> None:
    from tests.commands.conftest import _deal

    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL text cannot hold NUL, and searches there stay in SQL anyway")

    session.add(_deal(40, "odd\x00name", DANA, ACME, 1_000, "Proposal"))
    session.flush()
    assert searchable_deals(session, SCOPES["rep"]) is None
    assert searchable_deals(session, SCOPES["everyone"]) is None  # org-wide ids are kept instead
