"""Turning an export's deal columns into the canonical deal frame, or rejecting the file.

Pure: no database. The frame has one row per deal with typed columns (text, float,
datetime64) named after `deals` columns, plus `account`/`account_crm_id`/`owner`/`owner_crm_id`
(resolved to ids by the writer) and `row` (the spreadsheet row, for messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from storage.sync.catalog import FORECAST_ALIASES, StageInfo
from storage.sync.parsing import clean_text, map_distinct, parse_amounts, parse_datetimes, parse_percent
from storage.sync.problems import Problem, RejectedInput

TEXT_FIELDS = ("crm_id", "name", "account", "account_crm_id", "owner", "owner_crm_id", "source")
DATETIME_FIELDS = ("close_date", "created_at", "last_activity_at", "stage_entered_at")
DEAL_TYPES = {
    "new": "new",
    "newbusiness": "new",
    "new business": "new",
    "expansion": "expansion",
    "upsell": "expansion",
    "cross-sell": "expansion",
    "add-on": "expansion",
    "existing business": "expansion",
    "existingbusiness": "expansion",
    "renewal": "renewal",
}

SALESFORCE_TYPES = {"New Business": "new", "Existing Business": "expansion", "Renewal": "renewal"}


@dataclass(frozen=True)
class DealFrame:
    frame: pd.DataFrame
    present: frozenset[str]  # fields the input carried; absent ones are left alone on update


def prepare_deals(
    raw: pd.DataFrame,
    columns: dict[str, str],
    *,
    catalog: dict[str, StageInfo],
    reporting_currency: str,
    date_format: str | None = None,
    first_row: int = 2,
    crm_url_template: str | None = None,
    source: str = "file",
) -> DealFrame:
    """Validate and type every column at once; any bad value rejects the whole input."""
    problems: list[Problem] = []
    notes: list[str] = []
    rows = pd.Series(np.arange(first_row, first_row + len(raw)), index=raw.index)
    out = pd.DataFrame({"row": rows})

    def bad(field: str, mask: pd.Series, reason: str) -> None:
        for index in mask[mask].index[:200]:
            problems.append(Problem(int(rows[index]), columns[field], str(raw.at[index, columns[field]]), reason))
        if mask.sum() > 200:  # keep the count right without building a million messages
            problems.extend(Problem(int(rows[i]), columns[field], "", reason) for i in mask[mask].index[200:])

    for field in TEXT_FIELDS:
        if field in columns:
            out[field] = clean_text(raw[columns[field]])
    for field in ("crm_id", "name"):
        bad(field, out[field].isna(), "is blank; every deal needs one")

    duplicated = out["crm_id"].notna() & out["crm_id"].duplicated(keep="first")
    if duplicated.any():
        first_seen = out.drop_duplicates("crm_id").set_index("crm_id")["row"]
        for index in duplicated[duplicated].index:
            crm_id = out.at[index, "crm_id"]
            problems.append(
                Problem(
                    int(rows[index]),
                    columns["crm_id"],
                    str(crm_id),
                    f"appears more than once (first at row {int(first_seen[crm_id])})",
                )
            )

    _prepare_stage(raw, columns, catalog, out, bad, notes)
    if "amount" in columns:
        amounts, bad_amounts = parse_amounts(raw[columns["amount"]])
        bad("amount", bad_amounts, "is not an amount (expected e.g. 12500, 12,500.00 or $12,500)")
        out["amount"] = amounts.fillna(0.0).round(2)
    if "probability" in columns:
        probability, bad_probability = parse_percent(raw[columns["probability"]])
        bad("probability", bad_probability, "is not a percentage between 0 and 100")
        out["probability"] = probability.fillna(out["stage_probability"])
    else:
        out["probability"] = out["stage_probability"]
    _prepare_forecast(raw, columns, out, bad)
    _prepare_currency(raw, columns, out, bad, reporting_currency)
    expected = f"in the format {date_format}" if date_format else "a date like 2026-03-31 or 3/31/2026"
    for field in DATETIME_FIELDS:
        if field in columns:
            values, bad_values = parse_datetimes(raw[columns[field]], date_format)
            bad(field, bad_values, f"is not {expected} (use --date-format for other layouts)")
            out[field] = values.dt.normalize() if field == "close_date" else values
    if "type" in columns:
        out["type"] = lookup(clean_text(raw[columns["type"]]), DEAL_TYPES, SALESFORCE_TYPES)
    if crm_url_template:
        prefix, _, suffix = crm_url_template.partition("{id}")
        out["crm_url"] = prefix + out["crm_id"].fillna("") + suffix
        out.loc[out["crm_id"].isna(), "crm_url"] = None

    if problems:
        raise RejectedInput(problems, source=source, notes=notes)
    out = out.drop(columns=["stage_probability", "stage_forecast_category"])
    present = frozenset(columns) | {"probability", "forecast_category", "is_closed", "is_won", "stage"}
    if crm_url_template:
        present = present | {"crm_url"}
    return DealFrame(frame=out, present=present)


def lookup(text: pd.Series, table: dict[str, Any], spellings: dict[str, Any] | None = None) -> pd.Series:
    """Map text through a table keyed by case-folded strings. Exact spellings (the keys, plus
    `spellings`) are looked up for the whole column at once; only the misses pay for case folding."""
    exact = {**table, **(spellings or {})}

    def find(value: str) -> Any:
        found = exact.get(value)
        return table.get(value.casefold()) if _missing(found) else found

    result = map_distinct(text, find)
    return result.where(result.notna(), None)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _prepare_stage(raw, columns, catalog, out, bad, notes) -> None:  # type: ignore[no-untyped-def]
    text = clean_text(raw[columns["stage"]])
    blank = text.isna()
    bad("stage", blank, "is blank; every deal needs a stage")
    # Looked up straight to the configured spelling of the stage's name.
    spelled = {stage.name: stage.name for stage in catalog.values()}
    names = lookup(text, {key: stage.name for key, stage in catalog.items()}, spelled)
    unknown = names.isna() & ~blank
    if unknown.any():
        unknown_names = sorted(text[unknown].unique())
        configured = ", ".join(stage.name for stage in catalog.values())
        shown = ", ".join(repr(n) for n in unknown_names[:20])
        notes.append(f"  stages not in the configured stage list: {shown} (configured: {configured})")
        bad("stage", unknown, "is not a configured stage (add it under [[stages]] in revbot.toml)")
    by_name = {stage.name: stage for stage in catalog.values()}
    out["stage"] = names  # None where blank or unknown
    out["stage_probability"] = map_distinct(names, lambda n: by_name[n].probability).astype("float64")
    out["stage_forecast_category"] = map_distinct(names, lambda n: by_name[n].forecast_category)
    out["is_closed"] = map_distinct(names, lambda n: by_name[n].is_closed).fillna(False).astype(bool)
    out["is_won"] = map_distinct(names, lambda n: by_name[n].is_won).fillna(False).astype(bool)


def _prepare_forecast(raw, columns, out, bad) -> None:  # type: ignore[no-untyped-def]
    if "forecast_category" not in columns:
        out["forecast_category"] = out["stage_forecast_category"]
        return
    text = clean_text(raw[columns["forecast_category"]])
    blank = text.isna()
    category = lookup(text, FORECAST_ALIASES, {v: v for v in FORECAST_ALIASES.values()})
    bad(
        "forecast_category",
        category.isna() & ~blank,
        "is not a forecast category (Pipeline, Best Case, Commit, Closed, Omitted)",
    )
    out["forecast_category"] = category.fillna(out["stage_forecast_category"])


def _prepare_currency(raw, columns, out, bad, reporting_currency: str) -> None:  # type: ignore[no-untyped-def]
    if "currency" not in columns:
        out["currency"] = reporting_currency
        return
    text = clean_text(raw[columns["currency"]])
    blank = text.isna()
    valid = {
        code: code.upper() for code in text.dropna().unique() if len(code) == 3 and code.isascii() and code.isalpha()
    }
    codes = map_distinct(text, valid.get)
    bad("currency", ~blank & codes.isna(), "is not a currency code")
    out["currency"] = codes.where(~blank, reporting_currency)
