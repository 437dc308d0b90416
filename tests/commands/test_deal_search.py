"""`storage.deal_queries.find_deals_fast` finds the same deals, in the same order, as
`storage.queries.find_deals`, and `exact_account_sql` the account an exact name or CRM id names."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from commands.arguments import find_one_account
from storage.deal_queries import exact_account_sql, find_deals_fast
from storage.models import Account
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
