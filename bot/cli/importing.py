"""`revbot import FILE --format salesforce|hubspot|generic`: load a CRM export (CSV or XLSX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.runtime import console, fail, friendly_errors, load_runtime
from storage.sync.presets import FORMATS, OBJECTS
from storage.sync.problems import SyncInputError


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)


@friendly_errors
def import_command(
    file: Path = typer.Argument(..., help="CSV or XLSX export"),
    format: str = typer.Option("generic", "--format", "-f", help=f"column preset: {', '.join(FORMATS)}"),
    object: str = typer.Option("deals", "--object", "-o", help=f"what the file holds: {', '.join(OBJECTS)}"),
    mapping: Path | None = typer.Option(None, "--mapping", help='TOML/JSON/YAML file: field = "Column label"'),
    date_format: str | None = typer.Option(None, "--date-format", help="strftime layout, e.g. %d.%m.%Y"),
    full: bool = typer.Option(False, "--full", help="the file is a full export: deals not in it are marked removed"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and count, write nothing"),
) -> None:
    """Import a CRM export. Any invalid row rejects the whole file; nothing is written."""
    from storage.sync.importer import ImportOptions, import_file  # pandas: only when importing

    runtime = load_runtime()
    options = ImportOptions(
        format=format.lower(),
        object=object.lower(),
        mapping=mapping,
        date_format=date_format,
        full=full,
        dry_run=dry_run,
    )
    with _progress_bar() as bar:
        task = bar.add_task("reading", total=None)

        def progress(phase: str, advance: int, total: int) -> None:
            bar.update(task, description=phase, total=total or None, advance=advance)
            if advance == 0:
                bar.reset(task, description=phase, total=total or None)

        try:
            result = import_file(runtime.engine, runtime.config, file, options, progress=progress)
        except SyncInputError as exc:
            bar.stop()
            raise fail(escape(str(exc))) from None
    console.print(summary_table(result.stats, dry_run=dry_run))


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def summary_table(stats: dict[str, Any], *, dry_run: bool = False) -> Table:
    title = f"{stats.get('file', 'import')}: {stats.get('object', 'rows')}" + (
        " (dry run, nothing written)" if dry_run else ""
    )
    table = Table(title=title, show_header=False)
    for key in ("rows", "inserted", "updated", "unchanged", "removed", "history_rows"):
        if key in stats:
            table.add_row(key.replace("_", " "), f"{stats[key]:,}")
    for kind in ("owners", "accounts"):
        count = stats.get(f"{kind}_created", 0)
        if count:
            names = ", ".join(stats.get(f"{kind}_created_names", []))
            more = f" and {count - 20:,} more" if count > 20 else ""
            table.add_row(f"{kind} created", f"{count:,}: {names}{more}")
    return table
