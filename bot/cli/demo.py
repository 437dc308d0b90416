"""`revbot demo`: an embedded SQLite database with a generated revenue org, and a tour of it.

Uses DATABASE_URL when set, otherwise `revbot-demo.db` in the working directory. Seeds only an empty
database (running it twice adds nothing); `--reset` wipes and re-seeds, but never a database that
holds data from a real CRM import or sync.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.runtime import DEMO_DATABASE_FILE, Runtime, console, fail, friendly_errors, load_runtime
from commands.rendering import money

if TYPE_CHECKING:
    from storage.demo import DemoSummary

ROLE_LABELS = {"rep": "reps", "manager": "managers", "exec": "execs", "revops": "RevOps", "cs": "CSMs"}
PHASE_LABELS = {
    "generate": "Generating the org",
    "teams": "Loading teams",
    "people": "Loading people",
    "accounts": "Loading accounts",
    "deals": "Loading deals",
    "history": "Loading deal history",
    "subscriptions": "Loading subscriptions",
    "health": "Loading customer health",
    "targets": "Loading targets",
    "done": "Done",
}


def demo_database_url() -> str:
    return os.environ["DATABASE_URL"] if os.environ.get("DATABASE_URL") else f"sqlite:///{DEMO_DATABASE_FILE}"


def _seed_with_progress(runtime: Runtime, *, deals: int, seed: int) -> None:
    with Progress(
        TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:
        task = bar.add_task(PHASE_LABELS["generate"], total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=PHASE_LABELS.get(phase, phase), completed=done, total=total or None)

        from storage.demo import seed_demo

        seed_demo(runtime.engine, seed=seed, deals=deals, config=runtime.config, progress=progress)


SHOWN_TEAMS = 8  # a million-deal demo has 127 teams


def print_summary(summary: DemoSummary, console: Console) -> None:
    currency = summary.reporting_currency
    table = Table(title="Demo org", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    shown = ", ".join(summary.teams[:SHOWN_TEAMS]) or "none"
    more = len(summary.teams) - SHOWN_TEAMS
    table.add_row("Teams", f"{shown} and {more:,} more" if more > 0 else shown)
    people = [f"{n} {ROLE_LABELS.get(role, role)}" for role, n in summary.people_by_role.items() if n]
    table.add_row("People", ", ".join(people) or "none")
    table.add_row("Accounts", f"{summary.accounts:,} ({summary.customers:,} customers)")
    outcomes = f"{summary.deals_open:,} open, {summary.deals_won:,} won, {summary.deals_lost:,} lost"
    table.add_row("Deals", f"{summary.deals:,}: {outcomes}")
    table.add_row("Deal history", f"{summary.history_rows:,} changes")
    table.add_row("Open pipeline", money(summary.open_pipeline, currency))
    table.add_row("ARR", money(summary.arr, currency))
    table.add_row("Data as of", summary.as_of.isoformat() if summary.as_of else "never synced")
    console.print(table)


def print_next_steps(summary: DemoSummary, console: Console) -> None:
    who = summary.suggestions
    console.print("\n[bold]What to try next[/]")
    for line in (
        f'revbot ask "/pipeline" --as {who["rep"]}',
        f'revbot ask "/target team emea" --as {who["manager"]}',
        f'revbot ask "/renewals 90" --as {who["cs"]}',
        "revbot digest monday --preview",
        "revbot alerts check",
    ):
        console.print(f"  [cyan]{line}[/]", highlight=False)


@friendly_errors
def demo(
    deals: int = typer.Option(6000, "--deals", min=1, help="How many deals to generate."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed on the same day gives the same org."),
    reset: bool = typer.Option(False, "--reset", help="Wipe the demo database and generate it again."),
) -> None:
    """Create a demo revenue org in an embedded database and show what revbot answers."""
    from bot.cli import demo_answers, demo_digests
    from storage.demo import has_data, has_foreign_data, summarize, wipe
    from storage.migrate import upgrade

    runtime = load_runtime(demo_database_url())
    url = runtime.engine.url.render_as_string(hide_password=True)
    upgrade(runtime.engine)
    if reset and has_foreign_data(runtime.engine):
        raise fail(f"{url} holds data that did not come from the demo; refusing to wipe it with --reset.")
    if reset:
        wipe(runtime.engine)
    if has_data(runtime.engine):
        console.print(f"Using the existing data in {url} (run with --reset to generate it again).")
    else:
        console.print(f"Generating a demo org with {deals:,} deals in {url} ...")
        _seed_with_progress(runtime, deals=deals, seed=seed)
    summary = summarize(runtime.engine, runtime.config)
    print_summary(summary, console)
    print_next_steps(summary, console)
    if url.startswith("sqlite") and not os.environ.get("DATABASE_URL"):
        console.print(f"\nThe demo lives in {Path(DEMO_DATABASE_FILE).resolve()}; other verbs here find it.")
    demo_answers.show(runtime, console)
    demo_digests.show(runtime, console)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
