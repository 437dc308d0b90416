"""`revbot doctor`: is this installation healthy? Config, database, schema, data freshness, Slack
token, and recent failed deliveries and syncs, as one table; exit code 1 when any check fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.table import Table

from bot.cli.runtime import console, resolve_database_url
from storage.config import ConfigError, RevbotConfig, load_config
from storage.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

Status = Literal["ok", "warn", "fail", "skip"]
STYLES = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skipped[/]"}
FAILED_STATUSES = ("failed", "error")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


def check_config(settings: Settings) -> tuple[Check, RevbotConfig | None]:
    try:
        config = load_config(settings.revbot_config)
    except ConfigError as exc:
        return Check("Configuration", "fail", str(exc)), None
    source = settings.revbot_config
    where = f"{source} is valid" if Path(source).exists() else f"no {source}; using the defaults"
    return Check("Configuration", "ok", where), config


def check_database(engine: Engine) -> Check:
    from sqlalchemy import text

    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable"; say which
        return Check("Database reachable", "fail", f"{url}: {_one_line(exc)}")
    return Check("Database reachable", "ok", url)


def check_schema(engine: Engine) -> Check:
    from storage.migrate import current_revision, head_revision  # alembic: only when checking

    current, head = current_revision(engine), head_revision()
    if current == head:
        return Check("Database migrated", "ok", f"revision {current}")
    return Check("Database migrated", "fail", f"at {current or 'empty'}, newest is {head}; run `revbot db upgrade`")


def check_freshness(engine: Engine, config: RevbotConfig) -> Check:
    from sqlalchemy.orm import Session

    from storage.freshness import data_freshness

    with Session(engine) as session:
        freshness = data_freshness(session, stale_after_hours=config.freshness.stale_after_hours)
    if freshness.as_of is None:
        hint = "run `revbot sync`, `revbot import` or `revbot demo`"
        return Check("Data freshness", "fail", f"no successful sync yet; {hint}")
    hours = freshness.age.total_seconds() / 3600 if freshness.age else 0.0
    detail = f"data as of {freshness.as_of:%Y-%m-%d %H:%M} UTC ({hours:.1f} h ago)"
    if freshness.stale:
        return Check("Data freshness", "fail", f"{detail}; older than {config.freshness.stale_after_hours:g} h")
    return Check("Data freshness", "ok", detail)


def check_failures(engine: Engine) -> list[Check]:
    """Failed deliveries and sync runs are reported (warn) with the newest error, not failed on:
    they are history, and the scheduler retries."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from storage.models import Delivery, SyncRun

    checks = []
    with Session(engine) as session:
        for name, model, stamp in (
            ("Failed deliveries", Delivery, Delivery.claimed_at),
            ("Failed sync runs", SyncRun, SyncRun.started_at),
        ):
            failed = model.status.in_(FAILED_STATUSES)
            count = session.scalar(select(func.count()).select_from(model).where(failed)) or 0
            if not count:
                checks.append(Check(name, "ok", "none"))
                continue
            last_error = session.scalar(select(model.error).where(failed).order_by(stamp.desc()).limit(1))
            checks.append(Check(name, "warn", f"{count}; last error: {(last_error or 'unknown')[:200]}"))
    return checks


def check_slack(settings: Settings) -> Check:
    if not settings.slack_bot_token:
        return Check("Slack token", "skip", "SLACK_BOT_TOKEN is not set")

    from slack_sdk.errors import SlackApiError

    from bot.slack_client import make_web_client

    async def auth_test() -> Check:
        client = make_web_client(settings)
        try:
            response = await client.auth_test()
        except SlackApiError as exc:
            return Check("Slack token", "fail", f"auth.test said {exc.response.get('error', 'error')}")
        except Exception as exc:  # network trouble: name it, no traceback
            return Check("Slack token", "fail", f"auth.test failed: {_one_line(exc)}")
        return Check("Slack token", "ok", f"bot {response.get('user')} in workspace {response.get('team')}")

    return asyncio.run(auth_test())


def run_checks(settings: Settings) -> list[Check]:
    from storage.database import make_engine

    config_check, config = check_config(settings)
    checks = [config_check]
    engine = make_engine(resolve_database_url(settings))
    try:
        checks.append(check_database(engine))
        if checks[-1].status == "ok":
            checks.append(check_schema(engine))
            if checks[-1].status == "ok":
                steps: list[Callable[[], Check | list[Check]]] = [lambda: check_failures(engine)]
                if config is not None:
                    steps.insert(0, lambda: check_freshness(engine, config))
                for step in steps:
                    result = step()
                    checks.extend(result if isinstance(result, list) else [result])
    finally:
        engine.dispose()
    checks.append(check_slack(settings))
    return checks


def doctor() -> None:
    """Check config, database, schema, data freshness and the Slack token; exit 1 if any fails."""
    checks = run_checks(get_settings())
    table = Table(title="revbot doctor", title_justify="left")
    table.add_column("Check", style="bold")
    table.add_column("Status")
    table.add_column("Details", overflow="fold")
    for check in checks:
        table.add_row(check.name, STYLES[check.status], check.detail)
    console.print(table)
    if any(check.status == "fail" for check in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
