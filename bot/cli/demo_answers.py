"""A section of `revbot demo`; filled in by the part of revbot it shows."""

from __future__ import annotations

from rich.console import Console

from bot.cli.runtime import Runtime


def show(runtime: Runtime, console: Console) -> None:
    """Shows nothing until that part is built."""
