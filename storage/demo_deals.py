"""The demo's deals and their history, generated column-wise with numpy so a million deals is quick.

Each deal walks the configured open stages in order (sometimes starting at the second, sometimes
stepping back one stage and forward again), then ends in the won or lost stage, or is still open.
`deal_history` records the walk: a first `stage` row at creation (old_value empty), a row per stage
change, a `forecast_category` row whenever the stage's default category changes, and some
`close_date` slips and `amount` changes. The deal's current stage is the last stage in its history
and `stage_entered_at` is the time of that change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from storage.config import RevbotConfig
from storage.demo_calendar import Quarter
from storage.demo_customers import Customers
from storage.demo_org import Accounts

DAY = 86_400
TYPES = np.array(["new", "expansion", "renewal"], dtype=object)
SOURCES = np.array(["Inbound", "Outbound", "Partner", "Event", "Referral", "Account Management"], dtype=object)
_AMOUNT_MEDIAN = np.array([160_000.0, 48_000.0, 14_000.0])  # by segment, reporting currency
_CYCLE_MEDIAN = np.array([120.0, 65.0, 35.0])  # days, by segment
_WIN_RATE = np.array([0.22, 0.27, 0.32])  # new business, by segment
_EXPANSION_LABELS = np.array(["Seat Expansion", "Forecasting Add-on", "Premium Support Upgrade"], dtype=object)


@dataclass(frozen=True)
class Deals:
    columns: dict[str, np.ndarray]  # ready for bulk_insert into `deals`
    history: dict[str, np.ndarray]  # ready for bulk_insert into `deal_history`
    amount_rc: np.ndarray  # amount in the reporting currency, for targets


def _seconds(day: date) -> int:
    """Seconds since the epoch at midnight UTC of `day` (all demo times are naive UTC)."""
    return (day - date(1970, 1, 1)).days * DAY


def _grouped_position(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows laid out deal after deal: (deal index of each row, position within its deal, first row of
    each deal)."""
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return owner, np.arange(int(lengths.sum())) - starts[owner], starts


def make_deals(
    count: int,
    accounts: Accounts,
    customers: Customers,
    rng: np.random.Generator,
    *,
    config: RevbotConfig,
    today: date,
    quarters: list[Quarter],
    current: int,
) -> Deals:
    now = _seconds(today)  # the data set's "now": today 00:00 UTC, so every event is in the past
    fx = np.array([config.fx_rate(c) for c in accounts.currency.tolist()])

    # --- who and what ----------------------------------------------------------------------
    weights = np.array([3.0, 1.5, 1.0])[accounts.segment]
    account_pos = rng.choice(len(accounts), size=count, p=weights / weights.sum())
    segment = accounts.segment[account_pos]
    is_customer = np.zeros(len(accounts), dtype=bool)
    is_customer[customers.account_index] = True
    customer = is_customer[account_pos]
    deal_type = np.where(customer, rng.choice(3, size=count, p=[0.15, 0.55, 0.30]), 0)
    source = np.where(
        deal_type == 0, rng.choice(5, size=count, p=[0.35, 0.30, 0.15, 0.10, 0.10]),
        np.where(rng.random(count) < 0.8, 5, 0),
    )

    # --- when ------------------------------------------------------------------------------
    # More deals close in later quarters (growth); future quarters hold only the pipeline built so far.
    offsets = np.arange(len(quarters)) - current
    quarter_weight = np.where(offsets <= 0, 1.05 ** offsets, np.where(offsets == 1, 0.55, 0.25))
    quarter_index = rng.choice(len(quarters), size=count, p=quarter_weight / quarter_weight.sum())
    q_start = np.array([_seconds(q.start) for q in quarters])[quarter_index]
    q_days = np.array([(q.end - q.start).days + 1 for q in quarters])[quarter_index]
    close_day = q_start // DAY + np.floor(q_days * rng.random(count) ** 0.8).astype(np.int64)  # end-of-quarter rush
    cycle = _CYCLE_MEDIAN[segment] * np.where(deal_type == 0, 1.0, 0.6) * rng.lognormal(0, 0.45, count)
    cycle = np.maximum(cycle, 7.0)
    created = close_day * DAY - (cycle * DAY).astype(np.int64) + rng.integers(13 * 3600, 22 * 3600, count)
    recent = created > now - DAY
    created = np.where(recent, now - rng.integers(1 * DAY, 20 * DAY, count), created)

    # --- outcome ---------------------------------------------------------------------------
    past = close_day * DAY < now
    overdue = past & (close_day * DAY >= now - 45 * DAY) & (rng.random(count) < 0.08)
    win_rate = np.where(deal_type == 2, 0.85, np.where(deal_type == 1, 0.5, _WIN_RATE[segment]))
    won = past & ~overdue & (rng.random(count) < win_rate)
    lost = past & ~overdue & ~won
    is_open = ~(won | lost)

    # --- stage walk ------------------------------------------------------------------------
    stage_names = np.array(config.stage_names, dtype=object)
    open_positions = np.array([i for i, s in enumerate(config.stages) if s.status == "open"])
    won_position = next(i for i, s in enumerate(config.stages) if s.status == "won")
    lost_position = next(i for i, s in enumerate(config.stages) if s.status == "lost")
    k = len(open_positions)
    span_total = np.maximum(close_day * DAY - created, DAY)
    progress = np.clip((now - created) / span_total, 0, 1) ** 0.7  # reps qualify early
    open_reached = np.clip(np.floor(progress * k + rng.normal(0, 0.8, count)), 0, k - 1).astype(np.int64)
    open_reached = np.where(overdue, np.maximum(open_reached, k - 2), open_reached)
    lost_reached = np.minimum(rng.geometric(0.45, count) - 1, k - 1)
    last_open = np.where(won, k - 1, np.where(lost, lost_reached, open_reached))
    first_open = np.where((rng.random(count) < 0.3) & (last_open >= 1), 1, 0)
    regress = (rng.random(count) < 0.08) & (last_open - first_open >= 1)
    regress_at = first_open + 1 + np.floor(rng.random(count) * np.maximum(last_open - first_open, 1)).astype(np.int64)
    lengths = last_open - first_open + 1 + 2 * regress + (~is_open)

    row_deal, pos, starts = _grouped_position(lengths)
    first_r, regress_r, at_r = first_open[row_deal], regress[row_deal], regress_at[row_deal]
    plain = first_r + pos
    with_step_back = np.where(pos <= at_r - first_r, plain, np.where(pos == at_r - first_r + 1, at_r - 1, plain - 2))
    walk = np.where(regress_r, with_step_back, plain)
    stage_pos = open_positions[np.clip(walk, 0, k - 1)]
    terminal = (pos == lengths[row_deal] - 1) & ~is_open[row_deal]
    stage_pos = np.where(terminal & won[row_deal], won_position, stage_pos)
    stage_pos = np.where(terminal & lost[row_deal], lost_position, stage_pos)

    # --- timing of the walk ----------------------------------------------------------------
    closed_at = close_day * DAY + rng.integers(14 * 3600, 23 * 3600, count)
    stalled = is_open & (rng.random(count) < 0.15)
    age_in_stage = np.where(stalled, rng.uniform(35, 120, count), rng.exponential(9, count)) * DAY
    last_change = np.where(is_open, now - age_in_stage.astype(np.int64), closed_at)
    # A deal that moved spent some of its life moving: keep the walk in the later 70% of it at most.
    last_change = np.maximum(last_change, created + (np.maximum(now - created, 0) * 0.3).astype(np.int64))
    last_change = np.where(is_open, last_change, closed_at)
    last_change = np.where(lengths == 1, created, last_change)
    gaps = rng.exponential(1.0, len(pos))
    gaps[pos == 0] = 0.0
    cumulative = np.cumsum(gaps)
    before = (cumulative - gaps)[starts]
    within = cumulative - before[row_deal]
    group_total = (cumulative[starts + lengths - 1] - before)[row_deal]
    fraction = np.divide(within, group_total, out=np.zeros_like(within), where=group_total > 0)
    # `+ pos` seconds keeps every change strictly after the one before, even within one second.
    stage_time = created[row_deal] + (fraction * (last_change - created)[row_deal]).astype(np.int64) + pos

    previous_stage = np.empty(len(pos), dtype=object)
    previous_stage[:] = None
    previous_stage[pos > 0] = stage_names[stage_pos[np.flatnonzero(pos > 0) - 1]]
    history = [(row_deal, "stage", previous_stage, stage_names[stage_pos], stage_time)]

    categories = np.array([s.forecast_category for s in config.stages], dtype=object)
    category = categories[stage_pos]
    moved = np.flatnonzero(pos > 0)
    changed = moved[category[moved] != category[moved - 1]]
    history.append((row_deal[changed], "forecast_category", category[changed - 1], category[changed],
                    stage_time[changed]))

    # --- amounts and close-date slips ------------------------------------------------------
    amount_rc = _AMOUNT_MEDIAN[segment] * np.where(deal_type == 1, 0.45, np.where(deal_type == 2, 0.9, 1.0))
    amount_rc = amount_rc * rng.lognormal(0, 0.6, count)
    deal_fx = fx[account_pos]
    amount = np.maximum(np.round(amount_rc / deal_fx, -2), 500.0)
    amount_rc = amount * deal_fx
    end_time = np.where(is_open, np.maximum(now - DAY, created), closed_at)
    change_span = np.maximum(end_time - created, 0)

    repriced = np.flatnonzero((rng.random(count) < 0.2) & (change_span > DAY))
    old_amount = np.maximum(np.round(amount[repriced] * rng.uniform(0.6, 1.5, len(repriced)), -2), 500.0)
    history.append((repriced, "amount", _money(old_amount), _money(amount[repriced]),
                    created[repriced] + (rng.random(len(repriced)) * change_span[repriced]).astype(np.int64)))

    slips = np.where(change_span > 5 * DAY, rng.choice(3, size=count, p=[0.7, 0.22, 0.08]), 0)
    slip_days = rng.integers(7, 45, (count, 2)) * (np.arange(2)[None, :] < slips[:, None])
    slip_times = np.sort(rng.random((count, 2)), axis=1) * change_span[:, None]
    for n in (0, 1):
        who = np.flatnonzero(slips > n)
        later = slip_days[who, n + 1:].sum(axis=1) if n == 0 else np.zeros(len(who), dtype=np.int64)
        new_day = close_day[who] - later
        old_day = new_day - slip_days[who, n]
        history.append((who, "close_date", _day_text(old_day), _day_text(new_day),
                        created[who] + slip_times[who, n].astype(np.int64)))

    # --- the deals table -------------------------------------------------------------------
    last_row = starts + lengths - 1
    final_stage = stage_pos[last_row]
    probabilities = np.array([s.probability for s in config.stages])
    activity = np.where(
        is_open,
        np.where(stalled, now - (rng.uniform(25, 90, count) * DAY).astype(np.int64),
                 now - (rng.exponential(4, count) * DAY).astype(np.int64)),
        closed_at - (rng.uniform(0, 3, count) * DAY).astype(np.int64),
    )
    activity = np.clip(activity, created, None)
    ids = np.arange(1, count + 1, dtype=np.int64)
    crm_ids = np.array([f"006DM{i:010d}" for i in ids.tolist()], dtype=object)
    names = _deal_names(accounts, account_pos, deal_type, close_day, rng)
    columns = {
        "id": ids,
        "crm_id": crm_ids,
        "name": names,
        "account_id": accounts.id[account_pos],
        "owner_id": accounts.owner_id[account_pos],
        "amount": amount,
        "currency": accounts.currency[account_pos],
        "stage": stage_names[final_stage],
        "probability": probabilities[final_stage],
        "forecast_category": categories[final_stage],
        "close_date": close_day.astype("datetime64[D]"),
        "created_at": created.astype("datetime64[s]"),
        "last_activity_at": activity.astype("datetime64[s]"),
        "stage_entered_at": stage_time[last_row].astype("datetime64[s]"),
        "type": TYPES[deal_type],
        "source": SOURCES[source],
        "is_closed": ~is_open,
        "is_won": won,
        "crm_url": np.array([f"https://demo.my.salesforce.com/{c}" for c in crm_ids.tolist()], dtype=object),
    }
    return Deals(columns, _history_columns(history, ids), amount_rc)


def _money(values: np.ndarray) -> np.ndarray:
    return np.array([f"{v:.2f}" for v in values.tolist()], dtype=object)


def _day_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def _history_columns(parts: list[tuple], ids: np.ndarray) -> dict[str, np.ndarray]:
    """Concatenate the change rows and order them by deal, then time (how the index reads them)."""
    fields = np.array(sorted({p[1] for p in parts}), dtype=object)
    deal = np.concatenate([p[0] for p in parts])
    field = np.concatenate([np.full(len(p[0]), list(fields).index(p[1]), dtype=np.int8) for p in parts])
    old = np.concatenate([np.asarray(p[2], dtype=object) for p in parts])
    new = np.concatenate([np.asarray(p[3], dtype=object) for p in parts])
    at = np.concatenate([p[4] for p in parts])
    # One int64 sort key (deal, then seconds since the earliest change) is far quicker than lexsort.
    order = np.argsort((deal.astype(np.int64) << 32) + (at - at.min()), kind="stable")
    return {
        "deal_id": ids[deal[order]],
        "field": fields[field[order]],
        "old_value": old[order],
        "new_value": new[order],
        "changed_at": at[order].astype("datetime64[s]"),
    }


def _deal_names(
    accounts: Accounts, account_pos: np.ndarray, deal_type: np.ndarray, close_day: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    expansion = _EXPANSION_LABELS[rng.integers(0, len(_EXPANSION_LABELS), len(account_pos))]
    years = close_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    names = accounts.name
    return np.array(
        [
            f"{names[a]} - New Business" if t == 0 else f"{names[a]} - {e}" if t == 1 else f"{names[a]} - Renewal {y}"
            for a, t, e, y in zip(account_pos.tolist(), deal_type.tolist(), expansion.tolist(), years.tolist(),
                                  strict=True)
        ],
        dtype=object,
    )
