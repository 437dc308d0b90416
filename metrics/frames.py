"""Normalise the DataFrames metrics receive, whether they come from `storage.queries` or a test.

Metrics accept frames with any subset of the documented columns; missing optional columns are
added empty and date columns become datetime64 so comparisons behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import pandas as pd

from metrics.money import with_amount_rc
from storage.config import RevbotConfig

DEAL_DATETIME_COLUMNS = ("close_date", "created_at", "last_activity_at", "stage_entered_at")
DEAL_DEFAULTS: dict[str, object] = {
    "id": None,
    "name": None,
    "account_id": None,
    "account_name": None,
    "owner_id": None,
    "owner_name": None,
    "amount": 0.0,
    "currency": None,
    "stage": None,
    "probability": float("nan"),
    "forecast_category": None,
    "type": None,
    "source": None,
    "is_closed": False,
    "is_won": False,
    "crm_url": None,
}


def as_timestamp(value: date | datetime | pd.Timestamp) -> pd.Timestamp:
    """A naive pandas Timestamp (dates become midnight)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def ensure_datetime(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for name in columns:
        if name not in frame:
            frame[name] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        elif not pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = pd.to_datetime(frame[name], errors="coerce")
    return frame


PREPARED = "revbot_prepared_deals"


def prepare_deals(deals: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """A copy with every deal column present, datetimes as datetime64, flags as bool, and `amount_rc`.

    The result is marked (in `DataFrame.attrs`, which pandas carries through filtering), so the
    metrics a command calls one after another on the same frame prepare it only once. Treat it
    as read-only."""
    marker = (config.reporting_currency, tuple(sorted(config.fx_rates.items())))  # what amount_rc depends on
    if deals.attrs.get(PREPARED) == marker and "amount_rc" in deals:
        return deals
    frame = deals.copy()
    for name, default in DEAL_DEFAULTS.items():
        if name not in frame:
            frame[name] = default
    frame["is_closed"] = frame["is_closed"].fillna(False).astype(bool)
    frame["is_won"] = frame["is_won"].fillna(False).astype(bool)
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").fillna(0.0).astype("float64")
    frame["probability"] = pd.to_numeric(frame["probability"], errors="coerce").astype("float64")
    ensure_datetime(frame, DEAL_DATETIME_COLUMNS)
    frame = with_amount_rc(frame, config)
    frame.attrs[PREPARED] = marker  # small on purpose: pandas deep-copies attrs on every operation
    return frame


def days_between(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    """Whole days from each `earlier` timestamp to `later` (float, NaN where missing)."""
    return (later - earlier.dt.normalize()).dt.days.astype("float64")
