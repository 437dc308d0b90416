"""`revbot alerts check [--post]`: evaluate every alert rule now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from bot.cli.runtime import console, fail, friendly_errors, load_runtime

if TYPE_CHECKING:
    from digests.alerts.engine import EvaluationReport

alerts_app = typer.Typer(help="Threshold alerts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


def plan_table(report: EvaluationReport, limit: int = 30) -> Table:
    """What fires now, what is already known and steady, what cleared."""
    from digests.alerts.messages import RULE_LABELS

    table = Table(title=f"Alerts: {report.candidates} conditions hold", title_justify="left")
    table.add_column("rule")
    table.add_column("alert")
    table.add_column("now")
    shown = [p for p in report.plan if p.decision.action in ("fire", "resolve")]
    for item in shown[:limit]:
        title = item.candidate.title if item.candidate else item.fingerprint
        rule = RULE_LABELS.get(item.candidate.rule, item.candidate.rule) if item.candidate else ""
        table.add_row(rule, title, f"{item.decision.action} ({item.decision.reason})")
    if len(shown) > limit:
        table.add_row("", f"…and {len(shown) - limit} more", "")
    return table


@alerts_app.command("check")
@friendly_errors
def check(post: bool = typer.Option(False, "--post", help="update alert state and post what fires")) -> None:
    """Evaluate the alert rules now; without --post nothing is changed or sent."""
    from bot.slack_client import make_web_client
    from digests.alerts.engine import run_alerts

    runtime = load_runtime()
    client = None
    if post:
        if not runtime.settings.slack_bot_token:
            raise fail("SLACK_BOT_TOKEN is not set; --post needs it")
        client = make_web_client(runtime.settings)
    report = asyncio.run(run_alerts(runtime.engine, client, runtime.config, post=post))
    console.print(plan_table(report))
    if post:
        console.print(f"posted {report.posted}, fired {len(report.fired)}, resolved {len(report.resolved)}, "
                      f"steady {report.steady}")
        for failure in report.failed:
            console.print(f"[red]failed:[/] {failure}")
        if report.failed:
            raise typer.Exit(1)
