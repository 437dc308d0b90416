"""`revbot`: the command line. Each verb group lives in its own module with a `register(app)`."""

from __future__ import annotations

import typer

from bot.cli import alerts, ask, database, demo, digest, doctor, importing, manifest, scheduler, serve, sync

app = typer.Typer(
    name="revbot",
    help="revbot: your revenue team's analyst in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (demo, database, importing, sync, ask, digest, alerts, serve, scheduler, manifest, doctor):
    module.register(app)


def main() -> None:
    app()
