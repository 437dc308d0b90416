"""What the Salesforce and HubSpot syncs share: a `CrmSnapshot` (everything fetched since the
watermark, already in canonical columns) applied in ONE transaction, and the run bookkeeping.

Order of a run: read the watermark of the last successful run → fetch everything over the
network (nothing written yet) → apply in one transaction together with the `success` row and the
new watermark. Any failure rolls the data back and records a `failed` run with the error; the
watermark therefore only moves when a run succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, text

from storage.config import RevbotConfig
from storage.models import HISTORY_FIELDS, SyncRun
from storage.sync.catalog import StageInfo, stage_catalog
from storage.sync.deal_writer import Progress, write_deals
from storage.sync.deals import prepare_deals
from storage.sync.directory import upsert_accounts, upsert_users
from storage.sync.runs import last_watermark, record_run, utcnow
from storage.sync.sqlvalues import datetime_text, insert_many, update_many

DEAL_FIELDS = (
    "crm_id", "name", "account_crm_id", "owner_crm_id", "amount", "currency", "stage", "probability",
    "forecast_category", "close_date", "created_at", "last_activity_at", "stage_entered_at", "type", "source",
)  # fmt: skip


@dataclass
class CrmSnapshot:
    users: pd.DataFrame  # crm_id, name, email
    accounts: pd.DataFrame  # crm_id, name, owner_crm_id, industry, region
    deals: pd.DataFrame  # text columns named after DEAL_FIELDS (subset allowed)
    deleted_deal_ids: list[str] = field(default_factory=list)
    stage_history: pd.DataFrame | None = None  # crm_id, old_value, new_value, changed_at (naive UTC)
    stages: list[StageInfo] = field(default_factory=list)
    watermark: datetime | None = None  # newest modification time seen (naive UTC)
    crm_url_template: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class SyncResult:
    source: str
    stats: dict[str, Any]
    watermark: str | None
    run_id: int


Fetch = Callable[[datetime | None], CrmSnapshot]


def format_watermark(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_watermark(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def run_sync(
    engine: Engine,
    config: RevbotConfig,
    source: str,
    fetch: Fetch,
    *,
    overlap: timedelta,
    full: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    started = utcnow()
    previous = None if full else last_watermark(engine, source)
    since = parse_watermark(previous)
    try:
        snapshot = fetch(since - overlap if since else None)
        new_watermark = max(filter(None, [snapshot.watermark, since]), default=None)
        watermark = format_watermark(new_watermark) if new_watermark else previous
        with engine.connect() as connection, connection.begin():
            stats = apply_snapshot(connection, config, snapshot, now=now or started, progress=progress)
            stats = {"since": previous, **snapshot.counts, **stats}
            run = connection.execute(
                insert(SyncRun).values(
                    source=source,
                    started_at=started,
                    finished_at=utcnow(),
                    status="success",
                    watermark=watermark,
                    stats=stats,
                )
            )
            run_id = int(run.inserted_primary_key[0])
        return SyncResult(source, stats, watermark, run_id)
    except Exception as exc:
        record_run(
            engine, source=source, started_at=started, status="failed", stats={"since": previous}, error=_describe(exc)
        )
        raise


def apply_snapshot(
    connection: Connection,
    config: RevbotConfig,
    snapshot: CrmSnapshot,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    stats.update(upsert_users(connection, snapshot.users, config))
    stats.update(upsert_accounts(connection, snapshot.accounts))
    deals = snapshot.deals
    stages_before = _stored_stages(connection) if snapshot.stage_history is not None else {}
    if not deals.empty:
        catalog = stage_catalog(config, snapshot.stages)
        columns = {f: f for f in DEAL_FIELDS if f in deals.columns}
        prepared = prepare_deals(
            deals,
            columns,
            catalog=catalog,
            reporting_currency=config.reporting_currency,
            first_row=1,
            crm_url_template=snapshot.crm_url_template,
            source="CRM records",
        )
        history_fields = HISTORY_FIELDS
        if snapshot.stage_history is not None:
            history_fields = tuple(f for f in HISTORY_FIELDS if f != "stage")
        counts = write_deals(connection, prepared, now=now, progress=progress, history_fields=history_fields)
        stats.update({k: v for k, v in counts.as_stats().items() if not k.endswith("_names")})
    stats["removed"] = stats.get("removed", 0) + _mark_deleted(connection, snapshot.deleted_deal_ids, now)
    if snapshot.stage_history is not None:
        stats["history_rows"] = stats.get("history_rows", 0) + _add_stage_history(
            connection, snapshot.stage_history, stages_before
        )
    return stats


def _mark_deleted(connection: Connection, crm_ids: list[str], now: datetime) -> int:
    if not crm_ids:
        return 0
    wanted = set(crm_ids)
    stored = connection.execute(text("SELECT id, crm_id FROM deals WHERE removed_at IS NULL AND crm_id IS NOT NULL"))
    now_text = datetime_text(pd.Series([now]))[0]
    gone = [(now_text, deal_id) for deal_id, crm_id in stored if crm_id in wanted]
    update_many(connection, "deals", ["removed_at"], gone)
    return len(gone)


def _stored_stages(connection: Connection) -> dict[str, str]:
    return dict(connection.execute(text("SELECT crm_id, stage FROM deals WHERE crm_id IS NOT NULL")).fetchall())


def _add_stage_history(connection: Connection, history: pd.DataFrame, stages_before: dict[str, str]) -> int:
    """Stage changes as the CRM recorded them (one row per snapshot, in time order per deal),
    skipping ones already stored, since runs overlap. A deal's first snapshot in the window
    compares with the stage stored before this run; for a deal new to us it is its creation,
    not a change."""
    if history.empty:
        return 0
    history = history.sort_values(["crm_id", "changed_at"], kind="stable")
    previous = history.groupby("crm_id")["new_value"].shift(1).astype(object)
    previous = previous.where(previous.notna(), history["crm_id"].map(stages_before).astype(object))
    history = history.assign(old_value=previous)
    history = history[history["old_value"].notna() & (history["old_value"] != history["new_value"])]
    ids = dict(connection.execute(text("SELECT crm_id, id FROM deals WHERE crm_id IS NOT NULL")).fetchall())
    frame = history.assign(deal_id=history["crm_id"].map(ids)).dropna(subset=["deal_id"])
    frame["changed_at"] = datetime_text(frame["changed_at"])
    stored = {
        (deal_id, new_value, str(changed_at)[:19])
        for deal_id, new_value, changed_at in connection.execute(
            text("SELECT deal_id, new_value, changed_at FROM deal_history WHERE field = 'stage'")
        )
    }
    rows = []
    for deal_id, old_value, new_value, changed_at in frame[
        ["deal_id", "old_value", "new_value", "changed_at"]
    ].itertuples(index=False):
        key = (int(deal_id), new_value, changed_at[:19])
        if key in stored:
            continue
        stored.add(key)
        rows.append((int(deal_id), "stage", old_value, new_value, changed_at))
    insert_many(connection, "deal_history", ["deal_id", "field", "old_value", "new_value", "changed_at"], rows)
    return len(rows)


def _describe(exc: BaseException) -> str:
    message = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {message}"
