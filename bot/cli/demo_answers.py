"""The answers section of `revbot demo`: `/pipeline` for a demo rep and `/target` for a demo
manager, through the same path as `revbot ask` (and so as Slack)."""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule

from bot.cli import ask
from bot.cli.runtime import Runtime
from commands.registry import get_command
from storage.demo import demo_personas

QUESTIONS = (("rep", "/pipeline"), ("manager", "/target"))


def show(runtime: Runtime, console: Console) -> None:
    personas = demo_personas()
    for role, question in QUESTIONS:
        if get_command(question) is None:
            continue  # that command is not built in this version
        console.print(Rule(f"{question} as a {role}", style="cyan"))
        ask.show(runtime, console, question, personas[role])
    console.print(f'Ask your own: revbot ask "/pipeline team emea" --as {personas["manager"]}', highlight=False)
