"""What every CLI verb needs: settings, config and an engine, with failures worded for people."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console

from storage.config import ConfigError, RevbotConfig, load_config
from storage.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEMO_DATABASE_FILE = "revbot-demo.db"

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    config: RevbotConfig
    engine: Engine
    database_url: str


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise revbot.db, or the demo database when only that exists,
    so `revbot ask` works right after `revbot demo` without exporting anything."""
    if "DATABASE_URL" in os.environ:
        return settings.database_url
    if not Path("revbot.db").exists() and Path(DEMO_DATABASE_FILE).exists():
        return f"sqlite:///{DEMO_DATABASE_FILE}"
    return settings.database_url


def load_runtime(database_url: str | None = None) -> Runtime:
    from storage.database import make_engine  # SQLAlchemy: not needed for `revbot --help`

    settings = get_settings()
    config = load_config(settings.revbot_config)
    url = database_url or resolve_database_url(settings)
    return Runtime(settings=settings, config=config, engine=make_engine(url), database_url=url)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can cause into one-line messages instead of tracebacks."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise fail(str(exc)) from None

    return wrapper
