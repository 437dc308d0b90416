"""Retention: MRR/ARR, MRR movements, NRR, GRR, logo churn and renewal risk.

Subscription rows follow `storage.models`: a row counts towards MRR on day `d` when
`start_date <= d` and (`status == 'active'` or `d < end_date`). MRR is converted to the reporting
currency per row and rounded to the cent, so movements balance exactly.

MRR movements (ChartMogul's definitions) compare each customer's (account's) MRR at the end of
the day before the period starts with its MRR on the last day of the period:
- new: 0 → positive, for a customer with no MRR ever before the period;
- reactivation: 0 → positive, for a customer who had MRR before;
- expansion / contraction: positive → higher / lower;
- churn: positive → 0. A cancelled subscription is churn only when the customer has no other
  active subscription; otherwise it is contraction (we compare customer totals).
Changes that start and end inside the period (a customer won and lost within it) net to zero.

NRR = (start + expansion − contraction − churn) / start, GRR = (start − contraction − churn) / start,
over the cohort of customers with MRR at the start: new and reactivated customers are excluded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from metrics.frames import as_timestamp, ensure_datetime
from metrics.money import from_cents, to_reporting
from metrics.periods import Period
from metrics.revenue import ratio
from storage.config import RenewalRiskWeights, RevbotConfig

if TYPE_CHECKING:
    from storage.customer_queries import DueRenewal, HealthReadings, RetentionTotals


@dataclass(frozen=True)
class MrrMovements:
    period: Period
    currency: str
    start_mrr: float
    new: float
    expansion: float
    contraction: float  # positive number: MRR lost
    churn: float  # positive number: MRR lost
    reactivation: float
    end_mrr: float
    new_customers: int
    churned_customers: int
    start_customers: int

    @property
    def net_new(self) -> float:
        return round(self.new + self.expansion + self.reactivation - self.contraction - self.churn, 2)


@dataclass(frozen=True)
class Retention:
    period: Period
    cohort_start_mrr: float
    cohort_end_mrr: float
    nrr: float | None
    grr: float | None
    logo_churn: float | None
    start_customers: int
    churned_customers: int


def _prepared(subscriptions: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    frame = subscriptions.copy()
    for name, default in (("mrr", 0.0), ("currency", None), ("status", "active"), ("account_id", None)):
        if name not in frame:
            frame[name] = default
    ensure_datetime(frame, ["start_date", "end_date"])
    frame = to_reporting(frame, config, amount_column="mrr", out="mrr_rc")
    frame["cents"] = np.round(frame["mrr_rc"].to_numpy(dtype="float64") * 100).astype("int64")
    return frame


def _active_on(frame: pd.DataFrame, on: date) -> pd.Series:
    day = as_timestamp(on)
    running = (frame["status"] == "active") | (frame["end_date"].notna() & (day < frame["end_date"]))
    return (frame["start_date"] <= day) & running


def mrr_by_account_on(subscriptions: pd.DataFrame, on: date, config: RevbotConfig) -> pd.Series:
    """MRR in cents per account_id on a day (accounts with none are absent)."""
    frame = _prepared(subscriptions, config)
    if frame.empty:
        return pd.Series(dtype="int64")
    live = frame[_active_on(frame, on)]
    cents = live.groupby("account_id")["cents"].sum()
    return cents[cents > 0].astype("int64")


def mrr_on(subscriptions: pd.DataFrame, on: date, config: RevbotConfig) -> float:
    return from_cents(mrr_by_account_on(subscriptions, on, config).sum())


def arr_on(subscriptions: pd.DataFrame, on: date, config: RevbotConfig) -> float:
    return from_cents(mrr_by_account_on(subscriptions, on, config).sum() * 12)


def _start_end(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> pd.DataFrame:
    before = mrr_by_account_on(subscriptions, period.start - timedelta(days=1), config)
    after = mrr_by_account_on(subscriptions, period.end, config)
    both = pd.DataFrame({"start": before, "end": after}).fillna(0).astype("int64")
    return both


def mrr_movements(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> MrrMovements:
    """New, expansion, contraction, churn and reactivation MRR in `period` (see module docstring).
    start + new + reactivation + expansion − contraction − churn == end, to the cent."""
    both = _start_end(subscriptions, period, config)
    frame = _prepared(subscriptions, config)
    had_before = set(frame.loc[frame["start_date"] < as_timestamp(period.start), "account_id"]) if len(frame) else set()
    s, e = both["start"], both["end"]
    arrived = (s == 0) & (e > 0)
    returning = arrived & both.index.isin(had_before)
    new = arrived & ~returning
    churned = (s > 0) & (e == 0)
    kept = (s > 0) & (e > 0)
    return MrrMovements(
        period=period,
        currency=config.reporting_currency,
        start_mrr=from_cents(s.sum()),
        new=from_cents(e[new].sum()),
        expansion=from_cents((e - s)[kept & (e > s)].sum()),
        contraction=from_cents((s - e)[kept & (e < s)].sum()),
        churn=from_cents(s[churned].sum()),
        reactivation=from_cents(e[returning].sum()),
        end_mrr=from_cents(e.sum()),
        new_customers=int(new.sum()),
        churned_customers=int(churned.sum()),
        start_customers=int((s > 0).sum()),
    )


def retention(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> Retention:
    """NRR, GRR and logo churn over the customers with MRR at the start of `period`."""
    both = _start_end(subscriptions, period, config)
    cohort = both[both["start"] > 0]
    start = int(cohort["start"].sum())
    kept = int(np.minimum(cohort["start"], cohort["end"]).sum())
    churned = int((cohort["end"] == 0).sum())
    return Retention(
        period=period,
        cohort_start_mrr=from_cents(start),
        cohort_end_mrr=from_cents(cohort["end"].sum()),
        nrr=ratio(int(cohort["end"].sum()), start),
        grr=ratio(kept, start),
        logo_churn=ratio(churned, len(cohort)),
        start_customers=len(cohort),
        churned_customers=churned,
    )


def nrr(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> float | None:
    return retention(subscriptions, period, config).nrr


def grr(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> float | None:
    return retention(subscriptions, period, config).grr


def logo_churn(subscriptions: pd.DataFrame, period: Period, config: RevbotConfig) -> float | None:
    """Share of customers active at the start with no MRR at the end."""
    return retention(subscriptions, period, config).logo_churn


# --- renewals and their risk -----------------------------------------------------------------

RISK_COLUMNS = ["account_id", "account_name", "renewal_date", "arr", "score", "reasons"]


def renewals_due(subscriptions: pd.DataFrame, *, today: date, days: int, config: RevbotConfig) -> pd.DataFrame:
    """Accounts with an active subscription renewing in [today, today + days]: account_id,
    account_name, renewal_date (earliest), arr (the account's whole ARR today)."""
    frame = _prepared(subscriptions, config)
    if frame.empty:
        return pd.DataFrame(columns=["account_id", "account_name", "renewal_date", "arr"])
    start, stop = as_timestamp(today), as_timestamp(today + timedelta(days=days))
    due = frame[(frame["status"] == "active") & (frame["end_date"] >= start) & (frame["end_date"] <= stop)]
    mrr = mrr_by_account_on(subscriptions, today, config)
    names = frame.groupby("account_id")["account_name"].first() if "account_name" in frame else pd.Series(dtype=object)
    grouped = due.groupby("account_id")["end_date"].min().rename("renewal_date").reset_index()
    grouped["account_name"] = grouped["account_id"].map(names)
    grouped["arr"] = grouped["account_id"].map(mrr).fillna(0).astype("int64") * 12 / 100
    return grouped[["account_id", "account_name", "renewal_date", "arr"]]


def _latest(health: pd.DataFrame, column: str) -> pd.Series:
    rows = health[health[column].notna()]
    return rows.groupby("account_id")[column].last()


def _usage_trend(health: pd.DataFrame, today: date, lookback_days: int = 60) -> pd.DataFrame:
    """Per account: usage now (latest) and `lookback_days` earlier (the first reading since then)."""
    rows = health[health["usage"].notna()]
    rows = rows[rows["date"] >= as_timestamp(today - timedelta(days=lookback_days))]
    if rows.empty:
        return pd.DataFrame(columns=["old", "new", "span"])
    grouped = rows.groupby("account_id")
    return pd.DataFrame(
        {
            "old": grouped["usage"].first(),
            "new": grouped["usage"].last(),
            "span": (grouped["date"].last() - grouped["date"].first()).dt.days,
        }
    )


def renewal_risk(
    subscriptions: pd.DataFrame,
    health: pd.DataFrame,
    *,
    today: date,
    config: RevbotConfig,
    days: int | None = None,
) -> pd.DataFrame:
    """Renewals due within `days` (default `renewal_risk.window_days`) with a risk score 0–100 and
    its reasons in words, riskiest first.

    Each factor is a risk between 0 and 1, weighted by `renewal_risk.weights`:
    health = (100 − latest health score) / 100; usage_trend = fall in usage over the last 60 days as
    a share of the earlier reading; open_tickets = latest open tickets / 5 (capped at 1);
    nps = (50 − latest NPS) / 150 (NPS −100 → 1, +50 or more → 0); contraction = share of MRR lost in
    the last 90 days. Score = 100 × Σ weight × risk / Σ weight over the factors with data; a
    renewal with no data at all scores 0 and says so.
    """
    due = renewals_due(subscriptions, today=today, days=days or config.renewal_risk.window_days, config=config)
    if due.empty:
        return pd.DataFrame(columns=RISK_COLUMNS)
    weights = config.renewal_risk.weights
    signals = _risk_signals(subscriptions, health, today=today, config=config, accounts=due["account_id"])
    scores, reasons = [], []
    for account_id in due["account_id"]:
        factors = signals.get(account_id, {})
        weight_sum = sum(getattr(weights, name) for name in factors)
        if not factors or weight_sum == 0:
            scores.append(0.0)
            reasons.append(["no health data"])
            continue
        score = 100 * sum(getattr(weights, name) * risk for name, (risk, _) in factors.items()) / weight_sum
        scores.append(round(score, 1))
        ordered = sorted(factors.items(), key=lambda item: -getattr(weights, item[0]) * item[1][0])
        reasons.append([text for _, (risk, text) in ordered if text and risk > 0])
    result = due.assign(score=scores, reasons=reasons)
    return result.sort_values(["score", "arr"], ascending=[False, False]).reset_index(drop=True)[RISK_COLUMNS]


def _risk_signals(
    subscriptions: pd.DataFrame,
    health: pd.DataFrame,
    *,
    today: date,
    config: RevbotConfig,
    accounts: pd.Series,
) -> dict[int, dict[str, tuple[float, str | None]]]:
    """account_id → {factor: (risk 0–1, reason or None)} for the factors with data."""
    signals: dict[int, dict[str, tuple[float, str | None]]] = {int(a): {} for a in accounts}
    if health is not None and not health.empty:
        frame = ensure_datetime(health[health["account_id"].isin(accounts)].copy(), ["date"])
        frame = frame[frame["date"] <= as_timestamp(today)].sort_values(["account_id", "date"], kind="stable")
        for account_id, score in _latest(frame, "health_score").items():
            risk = min(max((100 - float(score)) / 100, 0.0), 1.0)
            signals[int(account_id)]["health"] = (risk, f"health score {score:.0f}/100" if score < 60 else None)
        for account_id, row in _usage_trend(frame, today).iterrows():
            drop = ratio(float(row["old"]) - float(row["new"]), float(row["old"]))
            risk = min(max(drop or 0.0, 0.0), 1.0)
            text = f"usage down {risk:.0%} in {int(row['span'])} days" if risk >= 0.1 else None
            signals[int(account_id)]["usage_trend"] = (risk, text)
        for account_id, tickets in _latest(frame, "open_tickets").items():
            risk = min(float(tickets) / 5, 1.0)
            text = f"{int(tickets)} open support tickets" if tickets >= 2 else None
            signals[int(account_id)]["open_tickets"] = (risk, text)
        for account_id, score in _latest(frame, "nps").items():
            risk = min(max((50 - float(score)) / 150, 0.0), 1.0)
            signals[int(account_id)]["nps"] = (risk, f"NPS {int(score)}" if score < 0 else None)
    now = mrr_by_account_on(subscriptions, today, config)
    before = mrr_by_account_on(subscriptions, today - timedelta(days=90), config)
    for account_id in signals:
        old, new = int(before.get(account_id, 0)), int(now.get(account_id, 0))
        if old > 0:
            lost = max(old - new, 0) / old
            text = f"MRR down {lost:.0%} in the last 90 days" if lost > 0 else None
            signals[account_id]["contraction"] = (lost, text)
    return signals


# --- the same numbers from SQL aggregates (`storage.customer_queries`) -----------------------
# The commands read per-account sums computed in the database instead of every subscription row;
# these turn them into the values above, equal to what the DataFrame functions give on the same
# rows (tests/metrics/test_retention_sql.py checks both paths on one database).


def movements_from_totals(totals: RetentionTotals, period: Period, config: RevbotConfig) -> MrrMovements:
    """`mrr_movements` from `storage.customer_queries.retention_totals`."""
    return MrrMovements(
        period=period,
        currency=config.reporting_currency,
        start_mrr=from_cents(totals.start_cents),
        new=from_cents(totals.new_cents),
        expansion=from_cents(totals.expansion_cents),
        contraction=from_cents(totals.contraction_cents),
        churn=from_cents(totals.churn_cents),
        reactivation=from_cents(totals.reactivation_cents),
        end_mrr=from_cents(totals.end_cents),
        new_customers=totals.new_customers,
        churned_customers=totals.churned_customers,
        start_customers=totals.start_customers,
    )


def retention_from_totals(totals: RetentionTotals, period: Period) -> Retention:
    """`retention` (NRR, GRR, logo churn) from `storage.customer_queries.retention_totals`."""
    start = totals.start_cents  # the cohort is exactly the accounts paying at the start
    return Retention(
        period=period,
        cohort_start_mrr=from_cents(start),
        cohort_end_mrr=from_cents(totals.cohort_end_cents),
        nrr=ratio(totals.cohort_end_cents, start),
        grr=ratio(totals.kept_cents, start),
        logo_churn=ratio(totals.churned_customers, totals.start_customers),
        start_customers=totals.start_customers,
        churned_customers=totals.churned_customers,
    )


def arr_from_totals(totals: RetentionTotals) -> float:
    """`arr_on` the totals' ARR day."""
    return from_cents(totals.arr_day_cents * 12)


@dataclass(frozen=True, slots=True)
class RenewalRisk:
    """One renewal as `renewal_risk` rates it (without the account's name, which the caller looks
    up for the rows it shows). `reasons` are worked out only when read: an org-wide list scores
    tens of thousands of renewals and a reply shows ten."""

    account_id: int
    renewal_date: date
    arr: float
    score: float
    factors: dict[str, tuple[float, float]]  # factor → (risk 0–1, the reading it comes from)
    weights: RenewalRiskWeights

    @property
    def reasons(self) -> list[str]:
        if not self.factors or sum(getattr(self.weights, name) for name in self.factors) == 0:
            return ["no health data"]
        ordered = sorted(self.factors.items(), key=lambda item: -getattr(self.weights, item[0]) * item[1][0])
        texts = ((risk, _reason(name, risk, reading)) for name, (risk, reading) in ordered)
        return [text for risk, text in texts if text and risk > 0]


@dataclass(frozen=True)
class RankedRenewals:
    """`renewal_risks`' answer: how many renewals are due, their ARR, and the riskiest ones."""

    count: int
    total_arr: float  # summed riskiest first, as the reply always did (float sums depend on order)
    top: list[RenewalRisk]


def _reason(name: str, risk: float, reading: float) -> str | None:
    """The words `_risk_signals` gives a factor (None below its threshold)."""
    if name == "health":
        return f"health score {reading:.0f}/100" if reading < 60 else None
    if name == "usage_trend":
        return f"usage down {risk:.0%} in {int(reading)} days" if risk >= 0.1 else None
    if name == "open_tickets":
        return f"{int(reading)} open support tickets" if reading >= 2 else None
    if name == "nps":
        return f"NPS {int(reading)}" if reading < 0 else None
    return f"MRR down {risk:.0%} in the last 90 days" if risk > 0 else None


def renewal_risks(
    due: Sequence[DueRenewal],
    readings: Mapping[int, HealthReadings],
    *,
    config: RevbotConfig,
    limit: int | None = None,
) -> RankedRenewals:
    """`renewal_risk` from per-account values (`storage.customer_queries.renewal_inputs`): the same
    scores, order and reasons, riskiest first (ties: larger ARR, then `due`'s order, by account id
    as `renewal_risk`'s). Only the first `limit` (default all) become `RenewalRisk` rows."""
    weights = config.renewal_risk.weights
    score = _scorer(weights)
    reading_of = readings.get
    scores = [score(renewal, reading_of(renewal.account_id)) for renewal in due]
    arrs = [renewal.mrr_cents_now * 12 / 100 for renewal in due]
    order = _riskiest_first(scores, arrs)
    top = [
        RenewalRisk(
            account_id=due[i].account_id,
            renewal_date=due[i].renewal_date,
            arr=arrs[i],
            score=scores[i],
            factors=_factors(due[i], reading_of(due[i].account_id)),
            weights=weights,
        )
        for i in (order if limit is None else order[:limit])
    ]
    return RankedRenewals(count=len(order), total_arr=sum([arrs[i] for i in order]), top=top)


def _riskiest_first(scores: list[float], arrs: list[float]) -> list[int]:
    """Positions by score, then ARR, both descending, ties in their given order: what one stable
    sort by `(-score, -arr)` gives, as two stable sorts by one float each (Python compares float
    keys directly, a tuple key element by element: 90 → 20 ms for 28k renewals). A NaN score (a
    NaN reading in PostgreSQL) leaves no total order, so then the tuple sort decides, as before."""
    positions = range(len(scores))
    if any(score != score for score in scores):
        keys = [(-score, -arr) for score, arr in zip(scores, arrs, strict=True)]
        return sorted(positions, key=keys.__getitem__)
    by_arr = sorted(positions, key=[-arr for arr in arrs].__getitem__)
    return sorted(by_arr, key=[-score for score in scores].__getitem__)


def _scorer(weights: RenewalRiskWeights) -> Callable[[DueRenewal, HealthReadings | None], float]:
    """`renewal_risk`'s score as a function of one renewal and its readings: `_factors`' risks
    weighted, without building the factors (an org-wide list scores tens of thousands). The same
    terms are summed in the same order, with `sum()` as there, so the floats are identical; the sum
    of the weights depends only on which factors have data, so it is summed once per set of them
    (`weight_sums[mask]`, a bit per factor in `_factors`' order). `min(max(x, 0.0), 1.0)` is spelt
    out as the comparisons min() and max() make (NaN and -0.0 come out the same)."""
    w_health, w_usage, w_tickets, w_nps, w_contraction = ordered = (
        weights.health,
        weights.usage_trend,
        weights.open_tickets,
        weights.nps,
        weights.contraction,
    )
    weight_sums = [sum([w for bit, w in enumerate(ordered) if mask >> bit & 1]) for mask in range(32)]

    def score(renewal: DueRenewal, health: HealthReadings | None) -> float:
        terms: list[float] = []
        mask = 0
        if health is not None:
            _, health_score, open_tickets, nps, usage_old, usage_new, usage_span_days = health
            if health_score is not None:
                risk = (100 - health_score) / 100
                risk = 0.0 if risk < 0.0 else risk
                mask = 1
                terms.append(w_health * (1.0 if risk > 1.0 else risk))
            if usage_old is not None and usage_new is not None and usage_span_days is not None:
                # ratio(), then `or 0.0` as `_factors` (None and -0.0 become 0.0)
                drop = ((usage_old - usage_new) / usage_old if usage_old != 0 else 0.0) or 0.0
                drop = 0.0 if drop < 0.0 else drop
                mask |= 2
                terms.append(w_usage * (1.0 if drop > 1.0 else drop))
            if open_tickets is not None:
                risk = float(open_tickets) / 5
                mask |= 4
                terms.append(w_tickets * (1.0 if risk > 1.0 else risk))
            if nps is not None:
                risk = (50 - float(nps)) / 150
                risk = 0.0 if risk < 0.0 else risk
                mask |= 8
                terms.append(w_nps * (1.0 if risk > 1.0 else risk))
        old = renewal.mrr_cents_before
        if old > 0:
            lost = old - renewal.mrr_cents_now
            mask |= 16
            terms.append(w_contraction * ((lost if lost > 0 else 0) / old))
        weight_sum = weight_sums[mask]
        if not mask or weight_sum == 0:
            return 0.0
        return round(100 * sum(terms) / weight_sum, 1)

    return score


def _factors(renewal: DueRenewal, health: HealthReadings | None) -> dict[str, tuple[float, float]]:
    """factor → (risk, reading) with `_risk_signals`' formulas and order, for the factors with data."""
    factors: dict[str, tuple[float, float]] = {}
    if health is not None:
        if health.health_score is not None:
            score = health.health_score
            factors["health"] = (min(max((100 - score) / 100, 0.0), 1.0), score)
        if health.usage_old is not None and health.usage_new is not None and health.usage_span_days is not None:
            drop = ratio(health.usage_old - health.usage_new, health.usage_old)
            factors["usage_trend"] = (min(max(drop or 0.0, 0.0), 1.0), health.usage_span_days)
        if health.open_tickets is not None:
            factors["open_tickets"] = (min(float(health.open_tickets) / 5, 1.0), health.open_tickets)
        if health.nps is not None:
            factors["nps"] = (min(max((50 - float(health.nps)) / 150, 0.0), 1.0), health.nps)
    old, new = renewal.mrr_cents_before, renewal.mrr_cents_now
    if old > 0:
        lost = max(old - new, 0) / old
        factors["contraction"] = (lost, lost)
    return factors
