"""`revbot ask "/pipeline team emea" --as EMAIL [--json]`: any slash command, locally, through
the same path as Slack (parse → authorize → compute → render → audit), shown for a terminal or
as the Block Kit JSON Slack would receive."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bot.cli.runtime import Runtime, console, fail, friendly_errors, load_runtime

if TYPE_CHECKING:
    from bot.dispatch import Outcome


def register(app: typer.Typer) -> None:
    @app.command("ask")
    @friendly_errors
    def ask(
        question: str = typer.Argument(..., help='A slash command with its arguments, e.g. "/pipeline team emea".'),
        as_email: str = typer.Option(..., "--as", help="Ask as this person (their email in the CRM or revbot.toml)."),
        as_json: bool = typer.Option(False, "--json", help="Print the Block Kit JSON instead of terminal text."),
    ) -> None:
        """Ask revbot a slash command locally, as a given person."""
        from bot.cli.terminal import print_message  # Jinja2, slack_sdk: only when asking

        command, text = split_question(question)
        runtime = load_runtime()
        outcome = ask_as(runtime, command, text, as_email)
        if as_json:
            typer.echo(json.dumps({**outcome.message.to_slack(), "status": outcome.status}, indent=2,
                                  ensure_ascii=False))
        else:
            print_message(console, outcome.message)
        if not outcome.answered:
            raise typer.Exit(1)


def split_question(question: str) -> tuple[str, str]:
    words = question.strip().split(maxsplit=1)
    if not words or not words[0].startswith("/") or len(words[0]) < 2:
        raise fail(f'start with a slash command, like "/pipeline team emea" (got {question!r})')
    return words[0], words[1] if len(words) > 1 else ""


def ask_as(runtime: Runtime, command: str, text: str, email: str) -> Outcome:
    # Imported here so that `revbot --help` and the other verbs do not load pandas and the commands.
    from bot.dispatch import Request, answer
    from storage.database import session_factory
    from storage.migrate import is_up_to_date

    if not is_up_to_date(runtime.engine):
        raise fail(f"the database at {runtime.database_url} is not set up: run `revbot db upgrade` or `revbot demo`")
    request = Request(command=command, text=text, email=email, source="cli")
    return answer(session_factory(runtime.engine), runtime.config, request)


def show(runtime: Runtime, out: Console, question: str, email: str) -> Outcome:
    """Print one question and its answer (used by `revbot demo`)."""
    from bot.cli.terminal import print_message

    command, text = split_question(question)
    out.print(f"[bold cyan]{email}[/] asks [bold]{question}[/]", highlight=False)
    outcome = ask_as(runtime, command, text, email)
    print_message(out, outcome.message)
    return outcome
