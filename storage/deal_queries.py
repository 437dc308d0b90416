"""SQL for `/deal`: find deals by CRM id, id or part of a name without joining every deal of the
scope to its account and lower-casing both names (1.7 s for an exec on 1M deals).

Same answer as `storage.queries.find_deals` (tests check both agree): an exact CRM id (any case) or
revbot id first; otherwise deals whose name or account name contains the text (case-insensitive),
open deals first, biggest first, then by id. The search is two steps: the ids of the first `limit`
matches from one pass over the scope's deals (the matching accounts are found once, a narrow scan
of `accounts`, and each deal only probes that set), then the full rows for those few ids.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Integer, Select, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session

from storage.models import Account, Deal
from storage.queries import DEAL_COLUMNS, load_deals
from storage.scope import Scope

# Up to this many owners a search walks the owner index; a bigger scope (a manager's team is a
# third of the org) reads the table in order instead, which beats fetching its deals at random.
OWNER_INDEX_MAX_OWNERS = 3


def _scoped(stmt: Select[Any], scope: Scope) -> Select[Any]:
    if scope.is_everyone:
        return stmt
    if not scope.owner_ids:
        return stmt.where(false())
    owners = sorted(scope.owner_ids)
    if len(owners) <= OWNER_INDEX_MAX_OWNERS:
        return stmt.where(Deal.owner_id.in_(owners))
    return stmt.where((Deal.owner_id + 0).in_(owners))  # an expression: no index, a table scan


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ascii_upper(text: str) -> str:
    return "".join(c.upper() if "a" <= c <= "z" else c for c in text)


def _contains(column: ColumnElement[Any], lowered: str, dialect: str) -> ColumnElement[bool]:
    """`lower(column) LIKE %lowered%`. SQLite's LIKE already ignores ASCII case and its lower() folds
    ASCII only, so there the plain LIKE is the same test without a lower() call per row."""
    pattern = f"%{_escape_like(lowered)}%"
    if dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return func.lower(column).like(pattern, escape="\\")


def _exact_ids(session: Session, scope: Scope, needle: str, limit: int) -> list[int]:
    """Ids of deals whose CRM id equals `needle` in any case, or whose id is `needle`."""
    lowered = needle.lower()
    same_crm_id: ColumnElement[bool] = func.lower(Deal.crm_id) == lowered
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's lower() folds ASCII only, so every match is an ASCII-case variant of `lowered`,
        # and those all sort (binary) between its upper- and lower-case forms: that range lets the
        # unique crm_id index find them instead of lower-casing every deal's id.
        same_crm_id = Deal.crm_id.between(_ascii_upper(lowered), lowered) & same_crm_id
    # Candidates by the crm_id index or the primary key, then the scope in Python: with the owner
    # filter in SQL, SQLite walks the scope's deals by owner instead (a few are found either way).
    conditions = [same_crm_id]
    if needle.isdigit() and int(needle) < 2**63:  # larger numbers cannot be an id (SQLite INTEGER is 64-bit)
        conditions.append(Deal.id == int(needle))
    found: set[int] = set()
    for condition in conditions:  # one query each: OR-ed, SQLite would scan instead of using either index
        rows = session.execute(select(Deal.id, Deal.owner_id).where(Deal.removed_at.is_(None), condition))
        found.update(int(deal_id) for deal_id, owner_id in rows if scope.includes_owner(owner_id))
    return sorted(found)[:limit]


def _matching_ids(session: Session, scope: Scope, needle: str, limit: int) -> list[int]:
    """Ids of the first `limit` deals whose name or account name contains `needle`, in reply order."""
    dialect = session.get_bind().dialect.name
    lowered = needle.lower()
    accounts = select(Account.id).where(_contains(Account.name, lowered, dialect))
    stmt = _scoped(
        select(Deal.id).where(
            Deal.removed_at.is_(None),
            or_(_contains(Deal.name, lowered, dialect), Deal.account_id.in_(accounts.scalar_subquery())),
        ),
        scope,
    )
    # Ordering by an expression, not the bare column, keeps SQLite from walking ix_deals_open_close_date
    # for the order and fetching every deal at random; a scan plus a top-`limit` sort is ~4x faster.
    stmt = stmt.order_by(cast(Deal.is_closed, Integer), Deal.amount.desc(), Deal.id).limit(limit)
    return [int(i) for i in session.scalars(stmt)]


def find_deals_fast(session: Session, scope: Scope, text: str, limit: int = 10) -> pd.DataFrame:
    """`storage.queries.find_deals`, found in two steps (see the module docstring)."""
    needle = text.strip()
    if not needle:
        return load_deals(session, scope, deal_ids=[])
    ids = _exact_ids(session, scope, needle, limit) or _matching_ids(session, scope, needle, limit)
    found = load_deals(session, scope, deal_ids=ids)
    position = {deal_id: index for index, deal_id in enumerate(ids)}
    order = found["id"].map(lambda i: position[int(i)]).sort_values(kind="stable").index
    return found.loc[order].reset_index(drop=True)[list(DEAL_COLUMNS)]


def exact_account_sql(session: Session, name: str) -> Account | None:
    """The one account `commands.arguments.find_one_account` finds by exact match: CRM id equal to
    `name`, or lower-cased name equal to `name.casefold()`; None when there is none or more than one
    (that function then tries a unique part of a name). It scans every account for the lower-cased
    name (120 ms on 250k accounts); on SQLite the matches are ASCII-case variants of the folded name,
    which sort between its upper- and lower-case forms, so `ix_accounts_name` finds them."""
    folded = name.casefold()
    if session.get_bind().dialect.name != "sqlite" or not name:
        return None
    same_name = and_(Account.name.between(_ascii_upper(folded), folded), func.lower(Account.name) == folded)
    found = {a.id: a for a in session.scalars(select(Account).where(same_name).limit(2))}
    found.update((a.id, a) for a in session.scalars(select(Account).where(Account.crm_id == name).limit(2)))
    return next(iter(found.values())) if len(found) == 1 else None
