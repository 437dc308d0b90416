"""Change detection: which stored deals differ from the incoming ones, and the `deal_history`
rows that record it. Pure functions over aligned columns (old vs new), vectorised.

Values in history are text: stage and forecast category by name, amount with two decimals,
close date as YYYY-MM-DD, owner as the owner's CRM id (or name when the owner has no CRM id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from storage.models import HISTORY_FIELDS

_MISSING = "\x00missing"


def differs(old: pd.Series, new: pd.Series, *, money: bool = False) -> pd.Series:
    """True where the values differ; two missing values are equal, and money compares in cents."""
    old_missing, new_missing = old.isna(), new.isna()
    if money or pd.api.types.is_float_dtype(new):
        a = pd.to_numeric(old, errors="coerce").to_numpy(dtype="float64")
        b = pd.to_numeric(new, errors="coerce").to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            same = np.round(a * 100) == np.round(b * 100)
        same = pd.Series(same, index=new.index)
        return ~((same & ~old_missing & ~new_missing) | (old_missing & new_missing))
    a = old.astype(object).where(~old_missing, _MISSING).to_numpy()
    b = new.astype(object).where(~new_missing, _MISSING).to_numpy()
    return pd.Series(a != b, index=new.index)


def history_text(values: pd.Series, field: str) -> pd.Series:
    if field == "amount":
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers.map(lambda x: f"{x:.2f}", na_action="ignore").astype(object).where(numbers.notna(), None)
    if field == "close_date":
        return values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v)[:10])
    return values.astype(object).where(values.notna(), None)


def history_rows(
    deal_ids: pd.Series,
    old: dict[str, pd.Series],
    new: dict[str, pd.Series],
    changed_at: dict[str, pd.Series],
    fields: tuple[str, ...] = HISTORY_FIELDS,
) -> pd.DataFrame:
    """One row per (deal, field) that changed. `old`/`new` hold history-ready values per field
    (owner already as its label), aligned on the same index as `deal_ids`."""
    parts = []
    for field in fields:
        if field not in new:
            continue
        mask = differs(old[field], new[field], money=field == "amount")
        if not mask.any():
            continue
        parts.append(
            pd.DataFrame(
                {
                    "deal_id": deal_ids[mask],
                    "field": field,
                    "old_value": history_text(old[field][mask], field),
                    "new_value": history_text(new[field][mask], field),
                    "changed_at": changed_at[field][mask],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["deal_id", "field", "old_value", "new_value", "changed_at"])
    return pd.concat(parts, ignore_index=True)
