"""`revbot digest monday|team|rep-daily --preview [--out DIR] | --post`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from bot.cli.runtime import console, fail, friendly_errors, load_runtime


def register(app: typer.Typer) -> None:
    app.command("digest")(digest)


@friendly_errors
def digest(
    name: str = typer.Argument(..., help="monday, team or rep-daily"),
    preview: bool = typer.Option(False, "--preview", help="print it and write Block Kit JSON and PNG charts"),
    post: bool = typer.Option(False, "--post", help="send it now (claimed like a scheduled run: never twice)"),
    out: Path = typer.Option(Path("digest-preview"), "--out", help="folder for --preview files"),
) -> None:
    """Preview or post a digest."""
    from bot.slack_client import make_web_client
    from digests.runner import normalize_name, prepare, run_digest
    from digests.terminal import blocks_to_text

    try:
        which = normalize_name(name)
    except ValueError as exc:
        raise fail(f"{exc}. Example: revbot digest monday --preview") from None
    if preview == post:
        raise fail("give exactly one of --preview or --post. Example: revbot digest monday --preview")
    runtime = load_runtime()
    if preview:
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for prepared in prepare(runtime.engine, runtime.config, which):
            count += 1
            slug = prepared.recipient.label.lower().replace(" ", "-")
            console.rule(f"{which} → {prepared.recipient.label} ({prepared.recipient.address or 'no channel'})")
            console.print(blocks_to_text(prepared.message.blocks), highlight=False, markup=False)
            (out / f"{which}-{slug}.json").write_text(json.dumps(prepared.message.to_slack(), indent=2),
                                                     encoding="utf-8")
            for chart in prepared.charts:
                (out / chart.filename).write_bytes(chart.png)
        if not count:
            raise fail(f"nobody receives the {name} digest: set its channel / opt-ins in revbot.toml")
        console.print(f"Wrote Block Kit JSON and charts to {out}/")
        return
    if not runtime.settings.slack_bot_token:
        raise fail("SLACK_BOT_TOKEN is not set; --post needs it (try --preview)")
    report = asyncio.run(run_digest(runtime.engine, make_web_client(runtime.settings), runtime.config, which))
    for label in report.posted:
        console.print(f"posted {which} {report.period_key} → {label}")
    for label in report.skipped:
        console.print(f"already posted (or in progress) {which} {report.period_key} → {label}")
    if report.held:
        console.print(f"[yellow]held:[/] {report.held}")
    for failure in report.failed:
        console.print(f"[red]failed:[/] {failure}")
    if report.failed or report.held:
        raise typer.Exit(1)
