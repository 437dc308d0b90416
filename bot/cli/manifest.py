"""`revbot manifest [--socket] [--url URL]`: the Slack app manifest (YAML) from the registry."""

from __future__ import annotations

import typer

from bot.cli.runtime import fail


def register(app: typer.Typer) -> None:
    @app.command("manifest")
    def manifest(
        socket: bool = typer.Option(False, "--socket", help="Socket Mode: no public URL needed."),
        url: str = typer.Option(
            None, "--url", help="Public base URL of `revbot serve` (HTTP mode), e.g. https://revbot.example.com"
        ),
    ) -> None:
        """Print the Slack app manifest (YAML) for every registered command."""
        from bot.manifest import manifest_yaml  # imports every command module

        if socket and url:
            raise fail("--socket and --url don't go together: Socket Mode needs no public URL")
        if url and not url.startswith("https://"):
            raise fail(f"--url must start with https:// (Slack only calls HTTPS endpoints), got {url!r}")
        typer.echo(manifest_yaml(socket_mode=socket, url=url), nl=False)
