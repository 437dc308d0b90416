"""`revbot db upgrade`: bring the schema to the newest migration."""

from __future__ import annotations

import typer

from bot.cli.runtime import console, friendly_errors, load_runtime

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply every pending migration, then the targets written in the config (safe on each release)."""
    from bot.config_targets import apply_config_targets
    from storage.migrate import current_revision, upgrade  # alembic: only for this verb

    runtime = load_runtime()
    before = current_revision(runtime.engine)
    upgrade(runtime.engine)
    after = current_revision(runtime.engine)
    url = runtime.engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"Database {url} is up to date (revision {after}).")
    else:
        console.print(f"Database {url} upgraded from {before or 'empty'} to {after}.")
    applied = apply_config_targets(runtime.engine, runtime.config)
    if applied:
        console.print(f"Targets from the config: {applied} applied.")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
