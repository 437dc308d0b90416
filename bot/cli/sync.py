"""`revbot sync salesforce|hubspot`: pull changes from the CRM API since the last good sync."""

from __future__ import annotations

import typer
from rich.markup import escape

from bot.cli.importing import summary_table
from bot.cli.runtime import console, fail, friendly_errors, load_runtime
from storage.sync.problems import SyncInputError

CRMS = ("salesforce", "hubspot")


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_command)


@friendly_errors
def sync_command(
    crm: str = typer.Argument(..., help="salesforce or hubspot"),
    full: bool = typer.Option(False, "--full", help="ignore the watermark and read everything"),
) -> None:
    """Sync deals, accounts, owners and stages from the CRM. A failed run changes nothing."""
    crm = crm.lower()
    if crm not in CRMS:
        raise fail(f"unknown CRM {crm!r}; use salesforce or hubspot")
    runtime = load_runtime()
    try:
        with console.status(f"syncing {crm}..."):
            if crm == "salesforce":
                from storage.sync.salesforce import SalesforceCredentials, make_client, sync_salesforce

                client = make_client(SalesforceCredentials.from_env(runtime.config))
                result = sync_salesforce(runtime.engine, runtime.config, client, full=full)
            else:
                from storage.sync.hubspot import make_client as make_hubspot
                from storage.sync.hubspot import sync_hubspot

                result = sync_hubspot(runtime.engine, runtime.config, make_hubspot(runtime.config), full=full)
    except SyncInputError as exc:
        raise fail(escape(str(exc))) from None
    except Exception as exc:  # network/API errors: already recorded as a failed run
        raise fail(escape(f"{crm} sync failed, nothing was changed: {type(exc).__name__}: {exc}"[:500])) from None
    stats = {"file": crm, "object": f"since {result.stats.get('since') or 'the beginning'}", **result.stats}
    console.print(summary_table(stats))
    console.print(f"watermark: {result.watermark}")
