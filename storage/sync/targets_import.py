"""Targets (quotas) from a file: one row per person (email) or team, period and metric.

Periods are explicit `period_start` / `period_end` dates: naming a period (`2026-Q3`) needs the
fiscal calendar, which lives in `metrics`, and storage does not import metrics; `[[targets]]` and
`targets_csv` in revbot.toml take named periods. People and teams must exist already (import users
first; teams come from revbot.toml), as for configured targets: a target nobody owns would make
every attainment figure wrong, so an unknown email or team rejects the file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from storage.config import RevbotConfig
from storage.sync.keyed import Progress, upsert_keyed
from storage.sync.problems import SyncInputError
from storage.sync.readers import Table
from storage.sync.rowcheck import RowCheck

DEFAULT_METRIC = "bookings"


def prepare_targets(config: RevbotConfig, table: Table, columns: dict[str, str], date_format: str | None,
                    source: str):  # type: ignore[no-untyped-def]  # fmt: skip
    """Validate a target file; returns the writer that upserts on (user or team, period, metric)."""
    if "period_start" not in columns or "period_end" not in columns:
        hint = (
            " (a named period like 2026-Q3 goes in revbot.toml [[targets]] or targets_csv)"
            if "period" in columns
            else ""
        )
        raise SyncInputError(
            f"target files need period start and end date columns ('Period Start'/'Period End' or "
            f"period_start/period_end){hint}"
        )
    if "email" not in columns and "team" not in columns:
        raise SyncInputError("target files need an email or a team column saying whose target each row is")
    check = RowCheck(table, columns, date_format)
    email = check.text("email").str.lower()
    team = check.text("team")
    field = "email" if "email" in columns else "team"
    check.bad(field, email.isna() & team.isna(), "names no one; give an email or a team")
    check.bad(field, email.notna() & team.notna(), "names both an email and a team; give one")
    start = check.dates("period_start", required=True)
    end = check.dates("period_end", required=True)
    check.bad("period_end", start.notna() & end.notna() & (end < start), "is before the period start")
    metric = check.text("metric").str.lower().fillna(DEFAULT_METRIC)
    if "metric" in columns:
        check.bad("metric", metric.str.len() > 32, "is longer than 32 characters")
    amount = check.money("amount")
    check.bad("amount", amount.isna() & check.text("amount").isna(), "is blank; every target needs an amount")
    check.bad("amount", amount < 0, "is negative; a target cannot be")
    check.raise_if_any(source)

    def write(connection: Connection, now: datetime, progress: Progress) -> dict[str, Any]:
        users = {e.casefold(): i for i, e in connection.execute(text("SELECT id, email FROM users")) if e}
        teams = {n.casefold(): i for i, n in connection.execute(text("SELECT id, name FROM teams")) if n}
        user_ids = _ids(email.map(users))
        team_ids = _ids(team.str.casefold().map(teams))
        if "email" in columns:
            check.bad("email", email.notna() & user_ids.isna(), "is not a known user's email (import users first)")
        if "team" in columns:
            check.bad("team", team.notna() & team_ids.isna(), "is not a team in revbot.toml")
        check.raise_if_any(source)
        keys = pd.DataFrame({"user": user_ids.fillna(-1), "team": team_ids.fillna(-1), "start": start, "end": end,
                             "metric": metric})  # fmt: skip
        check.duplicates(keys, field, "owner, period and metric")
        check.raise_if_any(source)
        incoming = list(zip(user_ids, team_ids, start, end, metric, [float(a) for a in amount], strict=True))
        return upsert_keyed(
            connection, "targets", ("user_id", "team_id", "period_start", "period_end", "metric"),
            ("amount",), incoming, progress,
        )  # fmt: skip

    return write


def _ids(values: pd.Series) -> pd.Series:
    """Row ids as plain ints (DB-API drivers refuse numpy scalars), None where not found."""
    return pd.Series([None if pd.isna(v) else int(v) for v in values], index=values.index, dtype=object)
