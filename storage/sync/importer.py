"""`revbot import`: one export file → validated frame → one transaction → a `sync_runs` row.

A rejected file writes no data; the attempt is still recorded as a `failed` run (with the
message) so `revbot doctor` and `/revbot status` can show it. `--dry-run` does all the work
inside a transaction that is rolled back, and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert

from storage.config import RevbotConfig
from storage.database import loading_connection
from storage.models import SyncRun
from storage.sync.catalog import stage_catalog
from storage.sync.deal_writer import Progress, write_deals
from storage.sync.deals import prepare_deals
from storage.sync.presets import FORMATS, OBJECTS, load_mapping, resolve_columns
from storage.sync.problems import SyncInputError
from storage.sync.readers import Table, read_table
from storage.sync.runs import record_run, utcnow


@dataclass(frozen=True)
class ImportOptions:
    format: str = "generic"
    object: str = "deals"
    mapping: str | Path | None = None
    date_format: str | None = None
    full: bool = False
    dry_run: bool = False

    @property
    def source(self) -> str:
        return f"import:{self.format}"


@dataclass
class ImportResult:
    source: str
    object: str
    stats: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    run_id: int | None = None


def import_file(
    engine: Engine,
    config: RevbotConfig,
    path: str | Path,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportResult:
    started = utcnow()
    now = now or started
    report = progress or (lambda phase, advance, total: None)
    try:
        _check_options(options)
        report("reading", 0, 0)
        overrides = load_mapping(options.mapping, options.object) if options.mapping else None
        resolved: dict[str, str] = {}

        def pick(header: list[str]) -> list[str]:
            resolved.update(resolve_columns(header, options.object, options.format, overrides))
            return list(resolved.values())

        table = read_table(path, pick)
        count = len(table.frame)
        report("validating", 0, count)
        writer = _writer(config, table, resolved, options, Path(path).name)
        del table  # the raw text cells are no longer needed; free them before writing
        with _import_connection(engine, count, unchecked_references=options.object == "deals") as connection:
            transaction = connection.begin()
            try:
                stats = writer(connection, now, report)
                stats = {"object": options.object, "file": Path(path).name, **stats}
                result = ImportResult(options.source, options.object, stats, options.dry_run)
                if options.dry_run:
                    transaction.rollback()
                    return result
                result.run_id = _record_success(connection, options.source, started, stats)
                transaction.commit()
                return result
            except BaseException:
                transaction.rollback()
                raise
    except Exception as exc:
        if not options.dry_run:
            stats = {"object": options.object, "file": Path(path).name}
            record_run(engine, source=options.source, started_at=started, status="failed", stats=stats, error=str(exc))
        raise


Writer = Callable[[Connection, datetime, Progress], dict[str, Any]]

BIG_FILE_ROWS = 50_000


@contextmanager
def _import_connection(engine: Engine, rows: int, *, unchecked_references: bool = False) -> Iterator[Connection]:
    """The connection an import writes on. A big file into a SQLite database file leaves WAL for
    the load when no other process has the file open (`storage.demo`'s loading connection): WAL
    writes every page twice, to the log and again at the checkpoint; a rollback journal keeps the
    same all-or-nothing transaction and writes each new page once. `synchronous=FULL` while out
    of WAL, so the commit is on disk when it returns (WAL with NORMAL defers that to the log).

    With `unchecked_references` (a deal import) SQLite's per-row foreign-key checks are also off
    for the load (10-18% of inserting a million deals): the deal writer itself checks every owner
    and account id it writes against the stored users and accounts, in the same transaction,
    before it returns (`deal_writer.check_references`). The pragma can only change outside a
    transaction, hence here; it is put back with the others."""
    if rows < BIG_FILE_ROWS or engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        with engine.connect() as connection:
            yield connection
        return
    with loading_connection(engine) as connection:
        previous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        connection.exec_driver_sql("PRAGMA synchronous=FULL")
        if unchecked_references:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            yield connection
        finally:
            connection.exec_driver_sql(f"PRAGMA synchronous={int(previous)}")
            connection.exec_driver_sql(f"PRAGMA foreign_keys={int(enforced)}")
            connection.commit()


def _check_options(options: ImportOptions) -> None:
    if options.format not in FORMATS:
        raise SyncInputError(f"unknown format {options.format!r}; use one of {', '.join(FORMATS)}")
    if options.object not in OBJECTS:
        raise SyncInputError(f"unknown object {options.object!r}; use one of {', '.join(OBJECTS)}")
    if options.full and options.object != "deals":
        raise SyncInputError("--full applies to deal exports only")


def _writer(config: RevbotConfig, table: Table, columns: dict[str, str], options: ImportOptions, name: str) -> Writer:
    if options.object == "deals":
        deals = prepare_deals(
            table.frame,
            columns,
            catalog=stage_catalog(config),
            reporting_currency=config.reporting_currency,
            date_format=options.date_format,
            first_row=table.first_row,
            crm_url_template=_crm_url_template(config, options.format),
            source=name,
        )

        def write(connection: Connection, now: datetime, progress: Progress) -> dict[str, Any]:
            return write_deals(connection, deals, now=now, full=options.full, progress=progress).as_stats()

        return write
    from storage.sync.objects import prepare_object

    return prepare_object(config, table, columns, options, name)


def _crm_url_template(config: RevbotConfig, fmt: str) -> str | None:
    if fmt == "salesforce" and config.crm.salesforce.instance_url:
        return config.crm.salesforce.instance_url.rstrip("/") + "/lightning/r/Opportunity/{id}/view"
    if fmt == "hubspot" and config.crm.hubspot.portal_id:
        return f"https://app.hubspot.com/contacts/{config.crm.hubspot.portal_id}/deal/{{id}}"
    return None


def _record_success(connection: Connection, source: str, started: datetime, stats: dict[str, Any]) -> int:
    result = connection.execute(
        insert(SyncRun).values(source=source, started_at=started, finished_at=utcnow(), status="success", stats=stats)
    )
    return int(result.inserted_primary_key[0])
