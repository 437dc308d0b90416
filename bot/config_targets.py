"""Targets written down in `revbot.toml` (`[[targets]]`) or the CSV it names (`targets_csv`).

They are upserted into the `targets` table, which is what every answer reads, at release
(`revbot db upgrade`) and when the bot or the scheduler starts. A target that names an unknown
person or team, or a period that does not parse, stops the start with a message naming the entry:
a silently ignored target would make every attainment figure wrong.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from metrics.periods import PeriodError, local_today, parse_period
from storage.config import ConfigError, RevbotConfig
from storage.database import transaction
from storage.models import Target, Team, User


@dataclass(frozen=True)
class TargetEntry:
    where: str  # how to name the entry in an error: "targets[2]" or "targets.csv row 5"
    email: str | None
    team: str | None
    period: str
    amount: float
    metric: str


def config_target_entries(config: RevbotConfig) -> list[TargetEntry]:
    entries = [
        TargetEntry(f"revbot.toml: `targets[{i}]`", t.email, t.team, t.period, t.amount, t.metric)
        for i, t in enumerate(config.targets)
    ]
    if config.targets_csv:
        entries.extend(read_targets_csv(Path(config.targets_csv)))
    return entries


def read_targets_csv(path: Path) -> list[TargetEntry]:
    """Columns: `email` or `team`, `period`, `amount`, optional `metric`."""
    if not path.exists():
        raise ConfigError(f"revbot.toml: `targets_csv`: file {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    entries: list[TargetEntry] = []
    for line, row in enumerate(rows, start=2):
        where = f"{path} row {line}"
        email = (row.get("email") or "").strip() or None
        team = (row.get("team") or "").strip() or None
        if (email is None) == (team is None):
            raise ConfigError(f"{where}: give exactly one of the columns email or team")
        raw_amount = (row.get("amount") or "").replace(",", "").strip()
        try:
            amount = float(raw_amount)
        except ValueError:
            raise ConfigError(f"{where}, column amount: {raw_amount!r} is not a number") from None
        if amount < 0:
            raise ConfigError(f"{where}, column amount: must not be negative")
        period = (row.get("period") or "").strip()
        entries.append(TargetEntry(where, email, team, period, amount, (row.get("metric") or "bookings").strip()))
    return entries


def apply_config_targets(engine: Engine, config: RevbotConfig, *, today: date | None = None) -> int:
    """Upsert every configured target in one transaction; returns how many entries were applied."""
    entries = config_target_entries(config)
    if not entries:
        return 0
    today = today or local_today(config.zone)  # "this quarter" in the configured zone, as answers read it
    with transaction(engine) as session:
        for entry in entries:
            _upsert(session, entry, config, today)
    return len(entries)


def _upsert(session: Session, entry: TargetEntry, config: RevbotConfig, today: date) -> None:
    try:
        period = parse_period(entry.period, today=today, fiscal_year_start_month=config.fiscal_year_start_month)
    except PeriodError as exc:
        raise ConfigError(f"{entry.where}: period {entry.period!r}: {exc}") from None
    metric = entry.metric.strip().lower()  # `revbot import --object targets` stores metrics lower-case too
    user_id = team_id = None
    if entry.email:
        user_id = session.scalar(select(User.id).where(func.lower(User.email) == entry.email.lower()))
        if user_id is None:
            raise ConfigError(f"{entry.where}: no user with email {entry.email!r} (import users first)")
    else:
        team_id = session.scalar(select(Team.id).where(func.lower(Team.name) == (entry.team or "").lower()))
        if team_id is None:
            raise ConfigError(f"{entry.where}: no team named {entry.team!r}")
    existing = session.scalars(
        select(Target).where(
            Target.user_id.is_(None) if user_id is None else Target.user_id == user_id,
            Target.team_id.is_(None) if team_id is None else Target.team_id == team_id,
            Target.period_start == period.start,
            Target.period_end == period.end,
            Target.metric == metric,
        )
    ).first()
    if existing is None:
        session.add(
            Target(user_id=user_id, team_id=team_id, period_start=period.start, period_end=period.end,
                   metric=metric, amount=entry.amount)
        )
    else:
        existing.amount = entry.amount
