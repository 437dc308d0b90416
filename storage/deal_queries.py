"""SQL for `/deal`: find deals by CRM id, id or part of a name without joining every deal of the
scope to its account and lower-casing both names (1.7 s for an exec on 1M deals).

Same answer as `storage.queries.find_deals` (tests check both agree): an exact CRM id (any case) or
revbot id first; otherwise deals whose name or account name contains the text (case-insensitive),
open deals first, biggest first, then by id. The search is two steps: the ids of the first `limit`
matches, then the full rows for those few ids. A rep's deals are walked by owner, each looking up
its account; wider scopes read every deal's name in one scan and add the deals of the matching
accounts (a narrow scan of `accounts`, then `ix_deals_account`), see `_matching_statement`.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, cast, false, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from storage.database import cursor_rows
from storage.models import Account, Deal, DealHistory, User
from storage.queries import DEAL_COLUMNS, load_deals
from storage.scope import Scope

# A search walks the owner index for up to this many owners, or this share of the org's users if
# more; a bigger scope (a team that is a quarter of a small org) reads the table in order instead,
# which beats fetching its deals at random. A 9-rep pod of the 1M demo's 1,134 users: 0.14 s by
# the index, 2.1 s by the scan.
OWNER_INDEX_MAX_OWNERS = 3
OWNER_INDEX_MAX_SHARE = 0.05


# Statements are built once per shape (kind of scope, dialect) with the text, owners and ids as
# bound parameters: SQLAlchemy spent a few ms of a rep's answer building them on every call.
OWNERS = bindparam("owners", expanding=True)
IDS = bindparam("ids", expanding=True)
PATTERN = bindparam("pattern")
EVERYONE, NOBODY, FEW_OWNERS, MANY_OWNERS = "everyone", "nobody", "few owners", "many owners"


def _scope_shape(scope: Scope) -> str:
    """EVERYONE, NOBODY or MANY_OWNERS (any other scope); `_search_shape` tells FEW_OWNERS apart."""
    if scope.owner_ids is None:
        return EVERYONE
    return MANY_OWNERS if scope.owner_ids else NOBODY


def _search_shape(session: Session, scope: Scope) -> str:
    shape = _scope_shape(scope)
    if shape != MANY_OWNERS or scope.owner_ids is None:
        return shape
    if len(scope.owner_ids) <= OWNER_INDEX_MAX_OWNERS:
        return FEW_OWNERS
    users = session.scalar(select(func.count()).select_from(User)) or 0
    return FEW_OWNERS if len(scope.owner_ids) <= users * OWNER_INDEX_MAX_SHARE else MANY_OWNERS


def _owner_params(scope: Scope) -> dict[str, Any]:
    return {"owners": sorted(scope.owner_ids)} if scope.owner_ids else {}


def _scoped(stmt: Select[Any], shape: str) -> Select[Any]:
    if shape == EVERYONE:
        return stmt
    if shape == NOBODY:
        return stmt.where(false())
    if shape == FEW_OWNERS:
        return stmt.where(Deal.owner_id.in_(OWNERS))
    return stmt.where((Deal.owner_id + 0).in_(OWNERS))  # an expression: no index, a table scan


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ascii_upper(text: str) -> str:
    return "".join(c.upper() if "a" <= c <= "z" else c for c in text)


def _contains(column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """`lower(column) LIKE :pattern` (the caller passes `%lowered%`, escaped). SQLite's LIKE already
    ignores ASCII case and its lower() folds ASCII only, so there the plain LIKE is the same test
    without a lower() call per row."""
    if dialect == "sqlite":
        return column.like(PATTERN, escape="\\")
    return func.lower(column).like(PATTERN, escape="\\")


CRM_ID_LOWERED, CRM_ID_LOW, CRM_ID_HIGH, DEAL_ID = (
    bindparam("crm_id_lowered"),
    bindparam("crm_id_low"),
    bindparam("crm_id_high"),
    bindparam("deal_id"),
)


@cache
def _exact_statements(dialect: str) -> tuple[Select[Any], Select[Any]]:
    """(by CRM id in any case, by id): one query each, as OR-ed SQLite would scan instead of using
    either index."""
    same_crm_id: ColumnElement[bool] = func.lower(Deal.crm_id) == CRM_ID_LOWERED
    if dialect == "sqlite":
        # SQLite's lower() folds ASCII only, so every match is an ASCII-case variant of the lowered
        # text, and those all sort (binary) between its upper- and lower-case forms: that range lets
        # the unique crm_id index find them instead of lower-casing every deal's id.
        same_crm_id = Deal.crm_id.between(CRM_ID_LOW, CRM_ID_HIGH) & same_crm_id
    found = select(Deal.id, Deal.owner_id).where(Deal.removed_at.is_(None))
    return found.where(same_crm_id), found.where(Deal.id == DEAL_ID)


def _exact_ids(session: Session, scope: Scope, needle: str, limit: int) -> list[int]:
    """Ids of deals whose CRM id equals `needle` in any case, or whose id is `needle`."""
    lowered = needle.lower()
    by_crm_id, by_id = _exact_statements(session.get_bind().dialect.name)
    # Candidates by the crm_id index or the primary key, then the scope in Python: with the owner
    # filter in SQL, SQLite walks the scope's deals by owner instead (a few are found either way).
    rows = list(
        cursor_rows(
            session, by_crm_id, {"crm_id_lowered": lowered, "crm_id_low": _ascii_upper(lowered), "crm_id_high": lowered}
        )
    )
    if needle.isdigit() and int(needle) < 2**63:  # larger numbers cannot be an id (SQLite INTEGER is 64-bit)
        rows += cursor_rows(session, by_id, {"deal_id": int(needle)})
    return sorted({int(deal_id) for deal_id, owner_id in rows if scope.includes_owner(owner_id)})[:limit]


@cache
def _matching_statement(shape: str, dialect: str, limit: int) -> Select[Any]:
    if shape == FEW_OWNERS:
        # A rep's ~1,000 deals each look up their own account by primary key (9 ms on 1M deals);
        # the set of matching accounts below reads every account's name (130 ms on 250k). Outer:
        # a deal without an account still matches by its own name, as with IN.
        stmt = (
            select(Deal.id)
            .outerjoin(Account, Account.id == Deal.account_id)
            .where(Deal.removed_at.is_(None), or_(_contains(Deal.name, dialect), _contains(Account.name, dialect)))
        )
    else:
        # Two arms, then the ids they name: deals by their own name (the one scan of `deals`, reading
        # nothing else of a row that does not match) and deals of the matching accounts (through
        # ix_deals_account). With `name LIKE … OR account_id IN (…)` in one scan, SQLite probed the
        # account set for each of the ~970k deals whose name did not match and checked removed_at
        # on all 1M: an exec's "software" (33k matches) took 0.8 s, now ~0.4 s.
        named, of_account = aliased(Deal, name="named"), aliased(Deal, name="of_account")
        by_name = select(named.id)
        if shape == MANY_OWNERS:  # the owner first: other owners' names are not matched
            by_name = by_name.where((named.owner_id + 0).in_(OWNERS))
        by_name = by_name.where(_contains(named.name, dialect))
        accounts = select(Account.id).where(_contains(Account.name, dialect))
        by_account = select(of_account.id).where(of_account.account_id.in_(accounts.scalar_subquery()))
        stmt = select(Deal.id).where(Deal.id.in_(union_all(by_name, by_account)), Deal.removed_at.is_(None))
    # Ordering by an expression, not the bare column, keeps SQLite from walking ix_deals_open_close_date
    # for the order and fetching every deal at random; a scan plus a top-`limit` sort is ~4x faster.
    return _scoped(stmt, shape).order_by(cast(Deal.is_closed, Integer), Deal.amount.desc(), Deal.id).limit(limit)


def _matching_ids(session: Session, scope: Scope, needle: str, limit: int) -> list[int]:
    """Ids of the first `limit` deals whose name or account name contains `needle`, in reply order."""
    stmt = _matching_statement(_search_shape(session, scope), session.get_bind().dialect.name, limit)
    params = {"pattern": f"%{_escape_like(needle.lower())}%", **_owner_params(scope)}
    return [int(row[0]) for row in cursor_rows(session, stmt, params)]


def find_deal_ids(
    session: Session, scope: Scope, text: str, limit: int = 10, *, searchable: SearchableDeals | None = None
) -> list[int]:
    """The ids of `find_deals_fast`'s rows, in its order: enough to count the matches and load only
    the rows a reply shows. With `searchable` (the scope's `searchable_deals`, kept), the names are
    matched in memory instead of in SQL."""
    needle = text.strip()
    if not needle:
        return []
    exact = _exact_ids(session, scope, needle, limit)
    if exact:
        return exact
    if searchable is not None:
        return searchable.matching_ids(needle, limit)
    return _matching_ids(session, scope, needle, limit)


# --- a scope's deal names, searched in memory ----------------------------------------------------
# A rep's search reads each of their ~1,000 deals and its account (~2 ms of SQLite, twice that when
# both answer workers are busy), for every search. `bot.people_warm_up` keeps each rep's and
# manager's deal names per data version; a search then scans one string. SQLite only: there LIKE
# ignores the case of ASCII letters and nothing else, which `bytes.lower()` reproduces exactly
# (PostgreSQL's lower() depends on the database's locale, so it keeps searching in SQL).

_FIELD_END = b"\x00"  # between names: a search text never holds it (commands strip control characters)


@dataclass(frozen=True)
class SearchableDeals:
    """A scope's deals in reply order (open first, biggest first, then id): their ids, and their
    names and account names in one UTF-8 string, ASCII-lowered (`bytes.lower`), two fields a deal,
    each ended by `_FIELD_END`. Bytes and arrays: a few bytes a deal, where a str of names with one
    accented letter takes two bytes a character and a tuple of ints 36 bytes an id."""

    ids: array[int]  # "q"
    names: bytes
    field_starts: array[int]  # "Q": where each field begins in `names`

    def matching_ids(self, needle: str, limit: int) -> list[int]:
        """`_matching_ids` for this scope: deals whose name or account name contains `needle`. In
        UTF-8 a character's bytes never occur inside another's, so a byte match is a text match."""
        wanted = needle.lower().encode("utf-8", "surrogatepass").lower()
        if _FIELD_END in wanted:  # no name holds it (see `searchable_deals`)
            return []
        found: list[int] = []
        at = self.names.find(wanted)
        while at >= 0 and len(found) < limit:
            row = (bisect_right(self.field_starts, at) - 1) // 2
            found.append(self.ids[row])
            # go on from the next deal: one matching by name and by account counts once
            next_row = 2 * (row + 1)
            if next_row >= len(self.field_starts):
                break
            at = self.names.find(wanted, self.field_starts[next_row])
        return found


@cache
def _searchable_statement() -> Select[Any]:
    stmt = (
        select(Deal.id, Deal.name, Account.name)
        .outerjoin(Account, Account.id == Deal.account_id)
        .where(Deal.removed_at.is_(None), Deal.owner_id.in_(OWNERS))
    )
    return stmt.order_by(cast(Deal.is_closed, Integer), Deal.amount.desc(), Deal.id)


def searchable_deals(session: Session, scope: Scope) -> SearchableDeals | None:
    """The scope's deal names for `find_deal_ids(searchable=...)`, or None where the search stays in
    SQL: every owner's deals, PostgreSQL, or a name holding `_FIELD_END`."""
    if scope.owner_ids is None or session.get_bind().dialect.name != "sqlite":
        return None
    ids, starts, names = array("q"), array("Q"), bytearray()
    if scope.owner_ids:
        for deal_id, name, account_name in cursor_rows(session, _searchable_statement(), _owner_params(scope)):
            ids.append(int(deal_id))
            # NULL matches nothing, as with LIKE; nor does an empty field (a needle is never empty)
            for field in (name, account_name):
                starts.append(len(names))
                names += b"" if field is None else str(field).encode("utf-8", "surrogatepass")
                names += _FIELD_END
    if names.count(_FIELD_END) != len(starts):
        return None
    return SearchableDeals(ids=ids, names=bytes(names).lower(), field_starts=starts)


def load_deals_in_order(session: Session, scope: Scope, ids: list[int]) -> pd.DataFrame:
    """`load_deals` rows (`DEAL_COLUMNS`) of `ids`, in the order of `ids`."""
    found = load_deals(session, scope, deal_ids=ids)
    position = {deal_id: index for index, deal_id in enumerate(ids)}
    order = found["id"].map(lambda i: position[int(i)]).sort_values(kind="stable").index
    return found.loc[order].reset_index(drop=True)[list(DEAL_COLUMNS)]


# --- a deal card's rows, without pandas ----------------------------------------------------------
# `load_deals` / `load_history` build a DataFrame and convert every column (~15 ms each, whatever the
# row count); a reply shows at most five deals and fifteen changes. These give the same values the
# card reads from those frames: dates and timestamps as `date` / `datetime` (None when unset or
# unreadable, as NaT), money and probability as float (None when unset), flags as bool.

CARD_DATE_COLUMNS = frozenset({"close_date", "created_at", "last_activity_at", "stage_entered_at"})
CARD_FLOAT_COLUMNS = frozenset({"amount", "probability"})
CARD_BOOL_COLUMNS = frozenset({"is_closed", "is_won"})
HISTORY_CARD_COLUMNS = ("deal_id", "field", "old_value", "new_value", "changed_at")


def as_datetime(value: Any) -> datetime | date | None:
    """A database date or timestamp as Python's: SQLite gives ISO text, PostgreSQL date/datetime."""
    if value is None or isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _card_value(name: str, value: Any) -> Any:
    if name in CARD_DATE_COLUMNS:
        return as_datetime(value)
    if name in CARD_FLOAT_COLUMNS:
        number = None if value is None else float(value)
        return None if number is None or math.isnan(number) else number  # NaN: missing, as pd.isna says
    if name in CARD_BOOL_COLUMNS:
        return bool(value)
    return value


@cache
def _deal_card_statement(shape: str) -> Select[Any]:
    columns = {"account_name": Account.name, "owner_name": User.name}
    stmt = select(*(columns.get(name) or getattr(Deal, name) for name in DEAL_COLUMNS))
    stmt = stmt.select_from(Deal).outerjoin(Account, Account.id == Deal.account_id)
    stmt = stmt.outerjoin(User, User.id == Deal.owner_id).where(Deal.removed_at.is_(None), Deal.id.in_(IDS))
    return _scoped_by_owner(stmt, shape)


def deal_card_rows(session: Session, scope: Scope, ids: list[int]) -> list[dict[str, Any]]:
    """`load_deals_in_order(...)` as plain dicts (`DEAL_COLUMNS`; see the section comment)."""
    if not ids:
        return []
    stmt = _deal_card_statement(_scope_shape(scope))
    raw = cursor_rows(session, stmt, {"ids": sorted(set(ids)), **_owner_params(scope)})  # no per-row processing
    rows = {row[0]: {n: _card_value(n, v) for n, v in zip(DEAL_COLUMNS, row, strict=True)} for row in raw}
    return [rows[i] for i in ids if i in rows]


@cache
def _history_statement(shape: str) -> Select[Any]:
    stmt = (
        select(*(getattr(DealHistory, name) for name in HISTORY_CARD_COLUMNS))
        .join(Deal, Deal.id == DealHistory.deal_id)
        .where(Deal.removed_at.is_(None), DealHistory.deal_id.in_(IDS))
        .order_by(DealHistory.changed_at, DealHistory.id)
    )
    return _scoped_by_owner(stmt, shape)


def card_history_rows(session: Session, scope: Scope, deal_ids: list[int]) -> list[dict[str, Any]]:
    """`load_history(session, scope, deal_ids=...)` as plain dicts, oldest first (`changed_at` a
    datetime)."""
    if not deal_ids:
        return []
    stmt = _history_statement(_scope_shape(scope))
    raw = cursor_rows(session, stmt, {"ids": sorted(set(deal_ids)), **_owner_params(scope)})
    return [{**dict(zip(HISTORY_CARD_COLUMNS, row, strict=True)), "changed_at": as_datetime(row[-1])} for row in raw]


def _scoped_by_owner(stmt: Select[Any], shape: str) -> Select[Any]:
    """The scope as `storage.queries` filters it (a plain owner IN list: these read a few ids)."""
    if shape == EVERYONE:
        return stmt
    if shape == NOBODY:
        return stmt.where(false())
    return stmt.where(Deal.owner_id.in_(OWNERS))


def find_deals_fast(session: Session, scope: Scope, text: str, limit: int = 10) -> pd.DataFrame:
    """`storage.queries.find_deals`, found in two steps (see the module docstring)."""
    if not text.strip():
        return load_deals(session, scope, deal_ids=[])
    return load_deals_in_order(session, scope, find_deal_ids(session, scope, text, limit))


def _case_variant_ranges(folded: str, letters: int = 4) -> list[tuple[str, str]]:
    """(low, high) pairs whose BETWEEN ranges hold every ASCII-case variant of `folded`. One range
    (upper..lower of the whole text) spans most of the alphabet ("HOLDINGS".."holdings" holds every
    name from "I" to "h", 2/3 of the accounts); spelling out the case of the first `letters` ASCII
    letters gives at most 2**letters ranges, each as narrow as that prefix (a variant keeps its length)."""
    end, seen = len(folded), 0
    for index, char in enumerate(folded):
        if "a" <= char <= "z":
            if seen == letters:
                end = index
                break
            seen += 1
    prefixes = [""]
    for char in folded[:end]:
        cases = (char.upper(), char) if "a" <= char <= "z" else (char,)
        prefixes = [prefix + case for prefix in prefixes for case in cases]
    rest = folded[end:]
    return [(prefix + _ascii_upper(rest), prefix + rest) for prefix in prefixes]


def exact_accounts_sql(session: Session, name: str) -> list[Account] | None:
    """The accounts `commands.arguments.find_one_account` matches exactly: CRM id equal to `name`, or
    lower-cased name equal to `name.casefold()` (at most two of each; one means that account, more
    or none send that function on to a unique part of a name). None on other databases than SQLite,
    or for an empty name: the shared lookup decides. Its `lower(name) = ?` reads every account (120 ms
    on 250k); SQLite's lower() folds ASCII only, so the matches are ASCII-case variants of the folded
    name, which `ix_accounts_name` finds through `_case_variant_ranges`."""
    folded = name.casefold()
    if session.get_bind().dialect.name != "sqlite" or not name:
        return None
    ranges = _case_variant_ranges(folded)
    by_name, by_crm_id = _exact_account_statements(len(ranges))
    params: dict[str, Any] = {"folded": folded}
    for index, (low, high) in enumerate(ranges):
        params[f"low_{index}"], params[f"high_{index}"] = low, high
    found = {a.id: a for a in session.scalars(by_name, params)}
    found.update((a.id, a) for a in session.scalars(by_crm_id, {"crm_id": name}))
    return list(found.values())


@cache
def _exact_account_statements(ranges: int) -> tuple[Select[Any], Select[Any]]:
    """`exact_accounts_sql`'s two queries for `ranges` name ranges, built once with bound values:
    building the up to 16 BETWEENs on every call was ~3 of the ~4 ms it took."""
    in_ranges = or_(*(Account.name.between(bindparam(f"low_{i}"), bindparam(f"high_{i}")) for i in range(ranges)))
    same_name = and_(in_ranges, func.lower(Account.name) == bindparam("folded"))
    return (
        select(Account).where(same_name).limit(2),
        select(Account).where(Account.crm_id == bindparam("crm_id")).limit(2),
    )


def exact_account_sql(session: Session, name: str) -> Account | None:
    """The one account `exact_accounts_sql` finds; None when there is none, more than one, or the
    database is not SQLite."""
    found = exact_accounts_sql(session, name)
    return found[0] if found is not None and len(found) == 1 else None


def accounts_containing_sql(session: Session, name: str, limit: int) -> list[Account]:
    """The first `limit` accounts, by name, whose lower-cased name contains `name.casefold()`:
    `commands.arguments.find_one_account`'s search for a unique part of a name, same SQL. In name
    order SQLite walks `ix_accounts_name` and stops at the `limit`-th match, quick for a common word."""
    pattern = f"%{_escape_like(name.casefold())}%"
    stmt = select(Account).where(func.lower(Account.name).like(pattern, escape="\\")).order_by(Account.name)
    return list(session.scalars(stmt.limit(limit)))
