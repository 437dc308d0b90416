"""The demo's customers: subscriptions with MRR movements, and a weekly health series.

Subscription rows follow the models docstring: a price change ends a row (`superseded`, `end_date` =
day of the change) and starts a new one on that day; churn ends the chain with a `canceled` row whose
`end_date` is the churn day; the live row is `active` with `end_date` = next renewal date. Terms are
annual, so renewals fall on the anniversary of the first row's start.

Health: `health_score` and `usage` are 0-100 (usage = % of licensed seats active that week), `nps` is
the account's Net Promoter Score, -100..100. A few customers renewing within 90 days are clearly at
risk: falling health and usage, open tickets, negative NPS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from storage.demo_org import Accounts

PRODUCTS = ("Revbot Platform", "Forecasting Add-on", "Premium Support")
_MRR_MEDIAN = np.array([22_000.0, 4_500.0, 900.0])  # by segment, in the reporting currency
HEALTH_WEEKS = 26


@dataclass(frozen=True)
class Customers:
    account_index: np.ndarray  # positions in Accounts of the customers
    since: list[date]  # first subscription start per customer
    at_risk: np.ndarray  # account ids deliberately at risk
    subscriptions: dict[str, list]
    health: dict[str, np.ndarray]


def _anniversary_after(start: date, day: date) -> date:
    """First anniversary of `start` strictly after `day` (Feb 29 starts renew on Feb 28)."""
    years = max(1, day.year - start.year)
    while True:
        candidate = _add_years(start, years)
        if candidate > day:
            return candidate
        years += 1


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _chain(
    rng: random.Random, start: date, mrr: float, today: date, churns: bool
) -> list[tuple[date, date | None, float, str]]:
    """One product's rows: (start_date, end_date, mrr, status), oldest first."""
    churn_day: date | None = None
    if churns:
        anniversaries = [_add_years(start, y) for y in range(1, 4) if _add_years(start, y) < today]
        churn_day = rng.choice(anniversaries) if anniversaries else None
    last_day = churn_day or today
    span = (last_day - start).days
    how_many = rng.choices((0, 1, 2, 3), weights=(50, 35, 12, 3))[0] if span > 40 else 0
    changes = sorted({rng.randrange(20, span) for _ in range(how_many)})
    rows = []
    current_start, current_mrr = start, mrr
    for offset in changes:
        change_day = start + timedelta(days=offset)
        rows.append((current_start, change_day, current_mrr, "superseded"))
        factor = rng.uniform(1.1, 1.6) if rng.random() < 0.7 else rng.uniform(0.6, 0.9)
        current_start, current_mrr = change_day, round(current_mrr * factor, -1)
    if churn_day is not None:
        rows.append((current_start, churn_day, current_mrr, "canceled"))
    else:
        rows.append((current_start, _anniversary_after(start, today), current_mrr, "active"))
    return rows


def make_customers(accounts: Accounts, rng: np.random.Generator, *, today: date, fx: dict[str, float]) -> Customers:
    count = len(accounts)
    customer_odds = np.array([0.55, 0.45, 0.35])[accounts.segment]
    account_index = np.flatnonzero(rng.random(count) < customer_odds)
    since_days = rng.integers(45, 3 * 365, size=len(account_index))
    base_mrr = np.round(_MRR_MEDIAN[accounts.segment[account_index]] * rng.lognormal(0, 0.5, len(account_index)), -1)
    churn = rng.random(len(account_index)) < 0.10
    # Per-customer choices in a plain loop: Python's generator (seeded from ours) is far quicker per call.
    py = random.Random(int(rng.integers(2**62)))

    columns: dict[str, list] = {k: [] for k in ("account_id", "product", "mrr", "currency", "start_date",
                                                 "end_date", "status")}
    since: list[date] = []
    renewal_of: dict[int, date] = {}
    account_end: dict[int, date] = {}
    for n, position in enumerate(account_index.tolist()):
        account_id = int(accounts.id[position])
        currency = str(accounts.currency[position])
        rate = fx.get(currency, 1.0)
        start = today - timedelta(days=int(since_days[n]))
        since.append(start)
        products = [(PRODUCTS[0], start, float(base_mrr[n]))]
        if py.random() < 0.35 and (today - start).days > 90:
            products.append((PRODUCTS[1], start + timedelta(days=py.randrange(30, (today - start).days - 30)),
                             round(float(base_mrr[n]) * 0.3, -1)))
        if py.random() < 0.15:
            products.append((PRODUCTS[2], start, round(float(base_mrr[n]) * 0.1, -1)))
        ended: list[date | None] = []
        for product, product_start, mrr in products:
            rows = _chain(py, product_start, max(100.0, round(mrr / rate, -1)), today, bool(churn[n]))
            for row_start, row_end, row_mrr, status in rows:
                columns["account_id"].append(account_id)
                columns["product"].append(product)
                columns["mrr"].append(row_mrr)
                columns["currency"].append(currency)
                columns["start_date"].append(row_start)
                columns["end_date"].append(row_end)
                columns["status"].append(status)
            last_start, last_end, _, last_status = rows[-1]
            ended.append(last_end if last_status == "canceled" else None)
            if product == PRODUCTS[0] and last_status == "active":
                renewal_of[account_id] = last_end  # type: ignore[assignment]
        if all(e is not None for e in ended):
            account_end[account_id] = max(e for e in ended if e is not None)

    renewing_soon = sorted(a for a, d in renewal_of.items() if 14 <= (d - today).days <= 90)
    risk_count = min(len(renewing_soon), max(6, round(0.004 * len(account_index))))
    at_risk = np.sort(rng.choice(np.array(renewing_soon, dtype=np.int64), size=risk_count, replace=False)) \
        if risk_count else np.array([], dtype=np.int64)
    customer_ids = accounts.id[account_index]
    health = _health(rng, customer_ids, since, account_end, at_risk, today)
    return Customers(account_index, since, at_risk, {k: v for k, v in columns.items()}, health)


def _health(
    rng: np.random.Generator,
    customer_ids: np.ndarray,
    since: list[date],
    account_end: dict[int, date],
    at_risk: np.ndarray,
    today: date,
) -> dict[str, np.ndarray]:
    """Weekly rows (Mondays) for the last 26 weeks, while the account was a customer."""
    last_monday = today - timedelta(days=today.weekday())
    weeks = np.array([np.datetime64(last_monday - timedelta(weeks=k), "D") for k in range(HEALTH_WEEKS - 1, -1, -1)])
    n, w = len(customer_ids), HEALTH_WEEKS
    health = rng.normal(74, 9, (n, 1)) + np.cumsum(rng.normal(0, 2.0, (n, w)), axis=1)
    usage = rng.normal(66, 12, (n, 1)) + np.cumsum(rng.normal(0, 2.5, (n, w)), axis=1)
    nps = np.repeat(rng.normal(32, 22, (n, 1)), w, axis=1) + np.repeat(rng.normal(0, 6, (n, 2)), [13, 13], axis=1)
    risky = np.isin(customer_ids, at_risk)
    ramp = np.linspace(0.0, 1.0, w)
    k = int(risky.sum())
    if k:
        health[risky] = rng.uniform(68, 76, (k, 1)) - ramp * rng.uniform(32, 42, (k, 1)) + rng.normal(0, 1.5, (k, w))
        usage[risky] = rng.uniform(62, 72, (k, 1)) - ramp * rng.uniform(35, 45, (k, 1)) + rng.normal(0, 2, (k, w))
        nps[risky] = np.repeat(rng.uniform(-55, -15, (k, 1)), w, axis=1)
    health = np.clip(np.round(health, 1), 0, 100)
    usage = np.clip(np.round(usage, 1), 0, 100)
    tickets = rng.poisson(np.clip((100 - health) / 30, 0.1, None))
    if k:
        tickets[risky, -8:] += rng.integers(3, 7, (k, 8))
    nps = np.clip(np.round(nps), -100, 100).astype(np.int64)

    first = np.array([np.datetime64(s, "D") for s in since])
    end = np.array([np.datetime64(account_end.get(int(a), date.max), "D") for a in customer_ids])
    keep = (weeks[None, :] >= first[:, None]) & (weeks[None, :] < end[:, None])
    return {
        "account_id": np.repeat(customer_ids[:, None], w, axis=1)[keep],
        "date": np.repeat(weeks[None, :], n, axis=0)[keep],
        "health_score": health[keep],
        "usage": usage[keep],
        "open_tickets": tickets[keep],
        "nps": nps[keep],
    }
