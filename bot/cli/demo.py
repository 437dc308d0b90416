"""`revbot demo`: not built yet."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds no verb until this part is built."""
