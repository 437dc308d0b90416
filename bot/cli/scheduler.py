"""`revbot scheduler`: the worker process (digests, alerts, CRM syncs). Procfile: `worker`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer

from bot.cli.runtime import Runtime, console, fail, friendly_errors, load_runtime

if TYPE_CHECKING:
    from digests.schedule import DigestScheduler

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler)


def _salesforce(runtime: Runtime) -> Callable[[], object]:
    from storage.sync.salesforce import SalesforceCredentials, make_client, sync_salesforce

    credentials = SalesforceCredentials.from_env(runtime.config)
    if not credentials.is_configured:
        raise ValueError("set SALESFORCE_ACCESS_TOKEN and SALESFORCE_INSTANCE_URL, or SALESFORCE_USERNAME/PASSWORD")
    return lambda: sync_salesforce(runtime.engine, runtime.config, make_client(credentials))


def _hubspot(runtime: Runtime) -> Callable[[], object]:
    from storage.sync.hubspot import make_client, sync_hubspot

    make_client(runtime.config)  # raises when not configured
    return lambda: sync_hubspot(runtime.engine, runtime.config, make_client(runtime.config))


def configured_syncs(runtime: Runtime) -> dict[str, Callable[[], Awaitable[object]]]:
    """CRM syncs to run on an interval: each connector whose credentials are set. A missing
    connector or missing credentials simply means no sync job (logged once at start)."""
    syncs: dict[str, Callable[[], Awaitable[object]]] = {}
    for source, builder in (("salesforce", _salesforce), ("hubspot", _hubspot)):
        try:
            run = builder(runtime)
        except Exception as exc:  # noqa: BLE001 - not configured: no job, not a crash
            log.info("no %s sync job: %s", source, str(exc)[:200])
            continue

        async def job(run: Callable[[], object] = run) -> object:
            return await asyncio.to_thread(run)  # the connectors are synchronous

        syncs[source] = job
    return syncs


@friendly_errors
def scheduler() -> None:
    """Run digests on their cron schedules, alerts on an interval and CRM syncs (Ctrl-C stops)."""
    from bot.config_targets import apply_config_targets
    from bot.slack_client import make_web_client
    from digests.schedule import DigestScheduler
    from storage.migrate import is_up_to_date

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = load_runtime()
    if not runtime.settings.slack_bot_token:
        raise fail("SLACK_BOT_TOKEN is not set; the scheduler posts to Slack")
    if not is_up_to_date(runtime.engine):
        raise fail("the database schema is not up to date; run `revbot db upgrade` first")
    apply_config_targets(runtime.engine, runtime.config)
    jobs = DigestScheduler(runtime.engine, make_web_client(runtime.settings), runtime.config,
                           syncs=configured_syncs(runtime))
    asyncio.run(_run(jobs))


async def _run(jobs: DigestScheduler) -> None:
    scheduler = jobs.build()
    scheduler.start()
    for job in scheduler.get_jobs():
        console.print(f"scheduled {job.id}: next run {job.next_run_time}")
    await jobs.catch_up()  # digests missed while the worker was down, within the grace window
    try:
        await asyncio.Event().wait()
    finally:
        scheduler.shutdown(wait=False)
