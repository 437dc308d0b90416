"""`revbot scheduler`: the worker process (digests, alerts, CRM syncs). Procfile: `worker`."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable

import typer

from bot.cli.runtime import Runtime, console, fail, friendly_errors, load_runtime
from bot.slack_client import make_web_client
from digests.schedule import DigestScheduler
from storage.migrate import is_up_to_date

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler)


def configured_syncs(runtime: Runtime) -> dict[str, Callable[[], Awaitable[object]]]:
    """CRM syncs to run on an interval, when storage.sync provides them and credentials are set.
    A missing connector or missing credentials simply means no sync job."""
    syncs: dict[str, Callable[[], Awaitable[object]]] = {}
    for source in ("salesforce", "hubspot"):
        try:
            module = importlib.import_module(f"storage.sync.{source}")
        except ImportError:
            continue
        run = getattr(module, "sync_from_settings", None) or getattr(module, "run_sync", None)
        if run is None:
            continue

        async def job(run=run) -> object:  # type: ignore[no-untyped-def]
            return await asyncio.to_thread(run, runtime.engine, runtime.config)

        syncs[source] = job
    return syncs


@friendly_errors
def scheduler() -> None:
    """Run digests on their cron schedules, alerts on an interval and CRM syncs (Ctrl-C stops)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = load_runtime()
    if not runtime.settings.slack_bot_token:
        raise fail("SLACK_BOT_TOKEN is not set; the scheduler posts to Slack")
    if not is_up_to_date(runtime.engine):
        raise fail("the database schema is not up to date; run `revbot db upgrade` first")
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
