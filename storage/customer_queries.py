"""SQL for the customer commands (`/retention`, `/renewals`): per-account MRR and health signals
aggregated in the database, so a question reads only the rows it needs and returns small results.

`storage.queries.load_subscriptions` + `metrics.retention` load every subscription in scope into
pandas; on the 1M-deal demo (257k subscriptions, 2.4M health snapshots) an org-wide `/renewals`
took 20–30 s that way. Here the database sums each account's MRR on the few days a question reads
and picks each due account's latest health readings; Python only sees one row per due renewal (or
one row in all, for `/retention`).

Money matches `metrics.money` to the cent: each row's MRR is converted with `config.fx_rate` and
rounded half-to-even to the cent, as numpy does (`rint(mrr × rate × 100)`), before any sum. A
currency without a configured rate makes these functions return None so that callers fall back to
the pandas path, which raises the `ConfigError` that names the missing rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.orm import Session

from storage.config import RevbotConfig
from storage.database import cursor_rows
from storage.scope import Scope

# Days before the renewal-risk "today" that the usage trend and the contraction factor compare
# with; `metrics.retention._usage_trend` and `_risk_signals` use the same numbers.
USAGE_LOOKBACK_DAYS = 60
CONTRACTION_LOOKBACK_DAYS = 90
# Org-wide renewal windows at least this long find the renewals due by a scan of `subscriptions`.
DUE_SCAN_MIN_DAYS = 45


@dataclass(frozen=True)
class RetentionTotals:
    """Sums over the accounts of a scope, in cents of the reporting currency. "start" is each
    account's MRR the day before the period, "end" on its last day; only positive account totals
    count (as in `metrics.retention.mrr_by_account_on`)."""

    start_cents: int
    end_cents: int
    arr_day_cents: int  # MRR on the day ARR is shown for (not × 12)
    new_cents: int
    new_customers: int
    reactivation_cents: int
    expansion_cents: int
    contraction_cents: int
    churn_cents: int
    churned_customers: int
    start_customers: int
    kept_cents: int  # Σ min(start, end) over the accounts paying at the start
    cohort_end_cents: int  # Σ end over the accounts paying at the start


class DueRenewal(NamedTuple):
    """An account with an active subscription ending in the window, with its MRR (cents) today
    and `CONTRACTION_LOOKBACK_DAYS` earlier (0 when not positive). A NamedTuple: an org-wide
    question makes tens of thousands, and tuples are several times cheaper to build than
    dataclasses."""

    account_id: int
    renewal_date: date
    mrr_cents_now: int
    mrr_cents_before: int


class HealthReadings(NamedTuple):
    """An account's latest non-missing health readings on or before today, and its first and last
    usage readings of the last `USAGE_LOOKBACK_DAYS` days (None when there are none)."""

    account_id: int
    health_score: float | None
    open_tickets: int | None
    nps: int | None
    usage_old: float | None
    usage_new: float | None
    usage_span_days: int | None


# --- SQL pieces --------------------------------------------------------------------------------


def _rate_case(config: RevbotConfig, params: dict[str, Any]) -> str:
    """SQL for each row's fx rate; NULL for a currency with no configured rate. A missing code or
    the reporting currency is 1.0, as `RevbotConfig.fx_rate` says."""
    whens = []
    for i, (code, rate) in enumerate(sorted(config.fx_rates.items())):
        if code == config.reporting_currency:
            continue
        params[f"fx_code_{i}"], params[f"fx_rate_{i}"] = code, float(rate)
        whens.append(f"WHEN s.currency = :fx_code_{i} THEN :fx_rate_{i}")
    params["reporting_currency"] = config.reporting_currency
    return (
        "CASE WHEN s.currency IS NULL OR s.currency = '' OR s.currency = :reporting_currency THEN 1.0 "
        f"{' '.join(whens)} ELSE NULL END"
    )


def _cents(dialect: str, scaled: str) -> str:
    """SQL rounding `scaled` (a double) to the nearest integer, ties to even, as numpy's `rint`.
    PostgreSQL's float8 → bigint cast already rounds that way; SQLite's CAST truncates, so the
    tie and the rounding direction are added back (`scaled - trunc` is exact in binary)."""
    if dialect == "postgresql":
        return f"CAST({scaled} AS BIGINT)"
    trunc = f"CAST({scaled} AS INTEGER)"
    frac = f"({scaled} - {trunc})"
    return (
        f"({trunc} + CASE WHEN {frac} > 0.5 THEN 1 WHEN {frac} < -0.5 THEN -1 "
        f"WHEN {frac} = 0.5 OR {frac} = -0.5 THEN {trunc} % 2 ELSE 0 END)"
    )


def _active_on(param: str) -> str:
    """A subscription counts on a day when it has started and is active or not yet ended."""
    return f"(s.start_date <= :{param} AND (s.status = 'active' OR (s.end_date IS NOT NULL AND :{param} < s.end_date)))"


def _scope_filter(scope: Scope | None, params: dict[str, Any]) -> str:
    if scope is None or scope.is_everyone:
        return ""
    if not scope.owner_ids:
        return " AND 1 = 0"
    params["owner_ids"] = sorted(scope.owner_ids)
    return " AND a.owner_id IN :owner_ids"


def _rows(session: Session, sql: str, params: dict[str, Any]) -> Sequence[Any]:
    """The DBAPI's rows as they come (plain SQL has no result types to process): an org-wide
    `/renewals` reads ~29k rows, and wrapping each in a SQLAlchemy Row cost ~30 ms."""
    return cursor_rows(session, _statement(sql, "owner_ids" in params), params)


@lru_cache(maxsize=64)
def _statement(sql: str, owner_ids: bool) -> TextClause:
    """`text(sql)`, built once per SQL text (the statements differ by shape and window, not by who
    asks): parsing ~20 bound parameters out of the text was ~0.5 ms of each rep's `/renewals`."""
    stmt = text(sql)
    return stmt.bindparams(bindparam("owner_ids", expanding=True)) if owner_ids else stmt


def _date(value: Any) -> date:
    if isinstance(value, str):  # SQLite; renewal dates repeat, so parse each text once
        return _parsed_date(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@lru_cache(maxsize=4096)
def _parsed_date(value: str) -> date:
    return date.fromisoformat(value[:10])


def _priced(
    dialect: str, config: RevbotConfig, params: dict[str, Any], *, columns: dict[str, str], source: str, where: str
) -> str:
    """A sub-select of subscription rows (`s`, joined to accounts `a` in `source`) giving `columns`,
    `cents` (MRR in reporting-currency cents) and `unpriced` (1 when the currency has no rate).
    It is kept from being merged into the outer query (SQLite `LIMIT -1 OFFSET 0`, PostgreSQL
    `OFFSET 0`) so each row's rounding is computed once, not once per SUM that reads it."""
    rate = _rate_case(config, params)
    fence = "OFFSET 0" if dialect == "postgresql" else "LIMIT -1 OFFSET 0"
    inner = ", ".join(f"{expression} AS {name}" for name, expression in columns.items())
    return (
        f"SELECT {', '.join(columns)}, {_cents(dialect, 'y')} AS cents, unpriced FROM ("
        f"SELECT {inner}, (CAST(COALESCE(s.mrr, 0) AS FLOAT) * COALESCE({rate}, 0.0)) * 100.0 AS y, "
        f"CASE WHEN {rate} IS NULL THEN 1 ELSE 0 END AS unpriced "
        f"FROM {source} WHERE {where} {fence}) priced_rows {fence}"
    )


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


# --- /retention --------------------------------------------------------------------------------


def retention_totals(
    session: Session,
    scope: Scope | None,
    *,
    day_before: date,
    end: date,
    arr_day: date,
    period_start: date,
    config: RevbotConfig,
    segment: str | None = None,
    account_id: int | None = None,
) -> RetentionTotals | None:
    """MRR movement sums for the subscriptions of `scope` (or one segment, or one account): each
    account's MRR on `day_before`, `end` and `arr_day` summed in SQL, then summed over accounts, so
    no subscription row reaches Python. Only rows live on one of those days are priced; whether an
    arriving account paid before (reactivation, not new) is looked up for those accounts only.
    None when a row's currency has no fx rate (the pandas path reports that)."""
    params: dict[str, Any] = {
        "day_before": day_before,
        "end_day": end,
        "arr_day": arr_day,
        "period_start": period_start,
    }
    where = "1 = 1" + _scope_filter(scope, params)
    if segment is not None:
        params["segment"] = segment
        where += " AND a.segment = :segment"
    if account_id is not None:
        params["account_id"] = account_id
        where += " AND s.account_id = :account_id"
    # Live on some day read: started by the latest day, and active or ending after the earliest.
    params["latest_day"], params["earliest_day"] = max(day_before, end, arr_day), min(day_before, end, arr_day)
    where += (
        " AND s.start_date <= :latest_day"
        " AND (s.status = 'active' OR (s.end_date IS NOT NULL AND :earliest_day < s.end_date))"
    )
    columns = {
        "account_id": "s.account_id",
        "on_start": _flag(_active_on("day_before")),
        "on_end": _flag(_active_on("end_day")),
        "on_arr_day": _flag(_active_on("arr_day")),
    }
    rows = _priced(
        session.get_bind().dialect.name,
        config,
        params,
        columns=columns,
        source="subscriptions s JOIN accounts a ON a.id = s.account_id",
        where=where,
    )
    # One pass over the accounts: whether an arriving account paid before (reactivation, not new)
    # is looked up for arrivals only, inside the sums. Three sub-selects over a CTE of arrivals made
    # SQLite write every account's row to a temporary table first: 540 -> 436 ms org-wide on the
    # 1M demo (its ~100k paying accounts).
    sql = f"""
        WITH per_account AS (
            SELECT account_id,
                   SUM(CASE WHEN on_start = 1 THEN cents ELSE 0 END) AS s_raw,
                   SUM(CASE WHEN on_end = 1 THEN cents ELSE 0 END) AS e_raw,
                   SUM(CASE WHEN on_arr_day = 1 THEN cents ELSE 0 END) AS a_raw,
                   SUM(unpriced) AS unpriced
            FROM ({rows}) r GROUP BY account_id
        ),
        m AS (
            SELECT account_id,
                   CASE WHEN s_raw > 0 THEN s_raw ELSE 0 END AS s,
                   CASE WHEN e_raw > 0 THEN e_raw ELSE 0 END AS e,
                   CASE WHEN a_raw > 0 THEN a_raw ELSE 0 END AS a,
                   unpriced
            FROM per_account
        ),
        flagged AS (
            SELECT s, e, a, unpriced,
                   CASE WHEN s = 0 AND e > 0 THEN CASE WHEN EXISTS (
                       SELECT 1 FROM subscriptions p
                       WHERE p.account_id = m.account_id AND p.start_date < :period_start
                   ) THEN 1 ELSE 0 END END AS came_back
            FROM m
        )
        SELECT COALESCE(SUM(s), 0), COALESCE(SUM(e), 0), COALESCE(SUM(a), 0),
               COALESCE(SUM(CASE WHEN came_back = 0 THEN e ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN came_back = 0 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN came_back = 1 THEN e ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 AND e > s THEN e - s ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 AND e > 0 AND e < s THEN s - e ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 AND e = 0 THEN s ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 AND e = 0 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 AND e < s THEN e WHEN s > 0 THEN s ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN s > 0 THEN e ELSE 0 END), 0),
               COALESCE(SUM(unpriced), 0)
        FROM flagged
    """
    values = [int(v) for v in _rows(session, sql, params)[0]]
    if values[13]:
        return None
    return RetentionTotals(*values[:13])


# --- /renewals ---------------------------------------------------------------------------------


def renewal_inputs(
    session: Session, scope: Scope | None, *, today: date, days: int, config: RevbotConfig
) -> tuple[list[DueRenewal], dict[int, HealthReadings]] | None:
    """Renewals due in [today, today + days] for the accounts of `scope` (by account id) and the
    health readings of those accounts (accounts without readings are absent), in one query.

    Only what the risk score reads is touched: the subscriptions ending in the window (through
    `ix_subscriptions_end_date`), the due accounts' other subscriptions (for their MRR today and
    `CONTRACTION_LOOKBACK_DAYS` earlier), and per due account its latest health snapshot and its
    first snapshot since `today - USAGE_LOOKBACK_DAYS`, each found from the `(account_id, date)`
    unique index alone and then read by id. Snapshots are normally complete; accounts where one of
    those lacks a value the score reads have their history read (`_readings_from_history`). None
    when a currency has no fx rate."""
    params: dict[str, Any] = {
        "today": today,
        "before_day": today - timedelta(days=CONTRACTION_LOOKBACK_DAYS),
        "usage_from": today - timedelta(days=USAGE_LOOKBACK_DAYS),
        "due_from": today,
        "due_to": today + timedelta(days=days),
    }
    dialect = session.get_bind().dialect.name
    scoped = _scope_filter(scope, params)
    # Org-wide, a window of DUE_SCAN_MIN_DAYS or more is read by scanning `subscriptions` in order
    # rather than fetching each row ix_subscriptions_end_date points to at random (SQLite has no
    # statistics to tell): 90 days of the 1M demo are 34k of 257k rows, 145 ms by the index,
    # 60 ms by the scan. A scope keeps the plan SQLite picks (its accounts' subscriptions).
    scan = " NOT INDEXED" if dialect == "sqlite" and not scoped and days >= DUE_SCAN_MIN_DAYS else ""
    due = (
        "SELECT s.account_id AS account_id, MIN(s.end_date) AS renewal_date "
        f"FROM subscriptions s{scan} JOIN accounts a ON a.id = s.account_id "
        "WHERE s.status = 'active' AND s.end_date >= :due_from AND s.end_date <= :due_to"
        f"{scoped} GROUP BY s.account_id"
    )
    rows = _priced(
        dialect,
        config,
        params,
        columns={
            "account_id": "due.account_id",
            "renewal_date": "due.renewal_date",
            "on_today": _flag(_active_on("today")),
            "on_before": _flag(_active_on("before_day")),
        },
        source="due JOIN subscriptions s ON s.account_id = due.account_id",
        where="1 = 1",
    )
    span = "(l.date - f.date)" if dialect == "postgresql" else "CAST(julianday(l.date) - julianday(f.date) AS INTEGER)"
    sql = f"""
        WITH due AS ({due}),
        mrr AS (
            SELECT account_id, MIN(renewal_date) AS renewal_date,
                   SUM(CASE WHEN on_today = 1 THEN cents ELSE 0 END) AS now_raw,
                   SUM(CASE WHEN on_before = 1 THEN cents ELSE 0 END) AS before_raw,
                   SUM(unpriced) AS unpriced
            FROM ({rows}) r GROUP BY account_id
        )
        SELECT m.account_id, m.renewal_date, m.now_raw, m.before_raw, m.unpriced,
               l.id, l.health_score, l.open_tickets, l.nps, l.usage,
               CASE WHEN l.date >= :usage_from THEN 1 ELSE 0 END, f.usage, {span}
        FROM mrr m
        LEFT JOIN customer_health l ON l.id = (
            SELECT h.id FROM customer_health h
            WHERE h.account_id = m.account_id AND h.date <= :today
            ORDER BY h.date DESC LIMIT 1)
        LEFT JOIN customer_health f ON f.id = (
            SELECT h.id FROM customer_health h
            WHERE h.account_id = m.account_id AND h.date >= :usage_from AND h.date <= :today
            ORDER BY h.date LIMIT 1)
    """
    due_rows: list[DueRenewal] = []
    readings: dict[int, HealthReadings] = {}
    incomplete: list[int] = []
    add_due, parse_day = due_rows.append, _date
    for (
        account_id, renewal_date, now_raw, before_raw, unpriced,
        latest_id, score, tickets, nps, usage, in_window, first_usage, span_days,
    ) in _rows(session, sql, params):  # fmt: skip
        if unpriced:
            return None
        account_id = int(account_id)
        now_cents, before_cents = int(now_raw), int(before_raw)
        add_due(
            DueRenewal(
                account_id,
                parse_day(renewal_date),
                now_cents if now_cents > 0 else 0,
                before_cents if before_cents > 0 else 0,
            )
        )
        if latest_id is None:
            continue  # no snapshot on or before today
        trend = in_window == 1
        if score is None or tickets is None or nps is None or usage is None or (trend and first_usage is None):
            incomplete.append(account_id)
            continue
        # The latest snapshot has a usage reading, so when it is in the window it is the window's
        # last one; the window's first snapshot (found from the index alone) has one too.
        if trend:
            readings[account_id] = HealthReadings(
                account_id, float(score), int(tickets), int(nps), float(first_usage), float(usage), int(span_days)
            )
        else:
            readings[account_id] = HealthReadings(account_id, float(score), int(tickets), int(nps), None, None, None)
    # By account id, for `renewal_risks`' ties. Sorted here rather than by an ORDER BY: SQLite
    # returns the groups in that order already (Timsort then just checks), and a sorter over every
    # due renewal would cost it more.
    due_rows.sort()
    for start in range(0, len(incomplete), _ID_CHUNK):
        chunk = incomplete[start : start + _ID_CHUNK]
        readings.update(_readings_from_history(session, chunk, today, params["usage_from"]))
    return due_rows, readings


_ID_CHUNK = 5000  # ids per IN list, well under SQLite's and PostgreSQL's bound-parameter limits


def _readings_from_history(
    session: Session, account_ids: list[int], today: date, usage_from: date
) -> dict[int, HealthReadings]:
    """The same readings from each account's whole history, for snapshots with missing values."""
    stmt = text(
        "SELECT account_id, date, health_score, open_tickets, nps, usage FROM customer_health "
        "WHERE account_id IN :ids AND date <= :today ORDER BY account_id, date"
    ).bindparams(bindparam("ids", expanding=True))
    latest: dict[int, dict[str, Any]] = {}
    for account_id, day, score, tickets, nps, usage in session.execute(stmt, {"ids": account_ids, "today": today}):
        found = latest.setdefault(int(account_id), {})
        for name, value in (("health_score", score), ("open_tickets", tickets), ("nps", nps)):
            if value is not None:
                found[name] = value
        when = _date(day)
        if usage is not None and when >= usage_from:
            found.setdefault("usage_old", (float(usage), when))
            found["usage_new"] = (float(usage), when)
    readings = {}
    for account_id, found in latest.items():
        old, new = found.get("usage_old"), found.get("usage_new")
        readings[account_id] = HealthReadings(
            account_id=account_id,
            health_score=None if found.get("health_score") is None else float(found["health_score"]),
            open_tickets=None if found.get("open_tickets") is None else int(found["open_tickets"]),
            nps=None if found.get("nps") is None else int(found["nps"]),
            usage_old=old[0] if old else None,
            usage_new=new[0] if new else None,
            usage_span_days=(new[1] - old[1]).days if old and new else None,
        )
    return readings


def account_owners(session: Session, account_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
    """account id → (account name, owner's name) for the few rows a reply shows."""
    if not account_ids:
        return {}
    stmt = text(
        "SELECT a.id, a.name, u.name FROM accounts a LEFT JOIN users u ON u.id = a.owner_id WHERE a.id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    return {int(i): (name, owner) for i, name, owner in session.execute(stmt, {"ids": sorted(set(account_ids))})}


def account_name_if_subscribed(session: Session, account_id: int) -> str | None:
    """The account's name when it has at least one subscription (`/retention` names the account
    only then, as it did when reading the name from the account's subscription rows)."""
    row = session.execute(
        text(
            "SELECT a.name FROM accounts a WHERE a.id = :account_id "
            "AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.id)"
        ),
        {"account_id": account_id},
    ).first()
    return None if row is None else row[0]
