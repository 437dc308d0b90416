"""Money in the reporting currency.

Amounts are stored in their own currency; every metric reports in `config.reporting_currency`
using `config.fx_rate(currency)` (units of reporting currency per unit of the deal's currency).
An unknown currency raises `storage.config.ConfigError` naming the missing rate, rather than
silently counting euros as dollars.

Converted amounts are rounded to the cent once, per row, so that sums of rows (bridges, movements)
can be done in whole cents and balance exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from storage.config import RevbotConfig


def rates_for(currencies: pd.Series, config: RevbotConfig) -> pd.Series:
    """The fx rate of each row's currency (1.0 for the reporting currency or a missing code)."""
    codes = currencies.astype(object).where(currencies.notna(), None)
    table = {code: config.fx_rate(code) for code in pd.unique(codes)}
    return codes.map(table).astype("float64")


def to_reporting(
    frame: pd.DataFrame,
    config: RevbotConfig,
    *,
    amount_column: str = "amount",
    currency_column: str = "currency",
    out: str | None = None,
) -> pd.DataFrame:
    """A copy of `frame` with `out` (default `<amount_column>_rc`) in the reporting currency,
    rounded to the cent. Missing amounts count as 0."""
    target = out or f"{amount_column}_rc"
    result = frame.copy()
    if frame.empty:
        result[target] = pd.Series(dtype="float64")
        return result
    amounts = pd.to_numeric(frame[amount_column], errors="coerce").fillna(0.0).astype("float64")
    if currency_column in frame:
        amounts = amounts * rates_for(frame[currency_column], config).to_numpy()
    result[target] = np.round(amounts, 2)
    return result


def with_amount_rc(frame: pd.DataFrame, config: RevbotConfig) -> pd.DataFrame:
    """`frame` with an `amount_rc` column; a no-op when it already has one."""
    if "amount_rc" in frame:
        return frame
    return to_reporting(frame, config)


def to_cents(values: pd.Series) -> pd.Series:
    """Money as whole cents (int64), for sums that must balance exactly."""
    return np.round(pd.to_numeric(values, errors="coerce").fillna(0.0).astype("float64") * 100).astype("int64")


def from_cents(cents: int | np.integer) -> float:
    return int(cents) / 100


def total(values: pd.Series) -> float:
    """Sum of money values, exact to the cent (0.0 for an empty series)."""
    return from_cents(to_cents(values).sum()) if len(values) else 0.0
