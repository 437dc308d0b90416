"""`revbot serve [--socket]`: the bot. HTTP on `/slack/events` (PORT, default 3000), or Socket Mode."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.cli.runtime import console, fail, friendly_errors, load_runtime


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly_errors
    def serve(
        socket: bool = typer.Option(False, "--socket", help="Use Socket Mode (SLACK_APP_TOKEN) instead of HTTP."),
        host: str = typer.Option("0.0.0.0", "--host", help="Interface to listen on in HTTP mode."),
        port: int = typer.Option(None, "--port", help="Port in HTTP mode (default: $PORT, else 3000)."),
    ) -> None:
        """Run the Slack bot."""
        from bot.answer_workers import DEFAULT_PROCESSES, AnswerWorkers, settle_garbage_collector
        from bot.app import MissingCredentials, build_app
        from bot.config_targets import apply_config_targets
        from bot.http import EVENTS_PATH, make_web_app, serve_forever
        from bot.services import Services
        from bot.socket_mode import serve_socket_mode
        from storage.migrate import is_up_to_date

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        runtime = load_runtime()
        if not is_up_to_date(runtime.engine):
            raise fail(f"the database at {runtime.database_url} is not set up: run `revbot db upgrade` first")
        apply_config_targets(runtime.engine, runtime.config)
        services = Services.build(settings=runtime.settings, config=runtime.config, engine=runtime.engine)
        try:
            bolt_app, state = build_app(services, socket_mode=socket)
        except MissingCredentials as exc:
            raise fail(str(exc)) from None
        processes = runtime.settings.revbot_answer_processes
        processes = DEFAULT_PROCESSES if processes is None else processes
        if processes:
            state.workers = AnswerWorkers(runtime.database_url, runtime.config, processes, engine=runtime.engine)
            state.workers.warm_up()
        settle_garbage_collector()
        try:
            if socket:
                console.print("revbot: connecting to Slack in Socket Mode")
                asyncio.run(serve_socket_mode(bolt_app, state, runtime.settings.slack_app_token or ""))
            else:
                bound = port or runtime.settings.port
                console.print(f"revbot: listening on http://{host}:{bound}{EVENTS_PATH}")
                asyncio.run(serve_forever(make_web_app(bolt_app, state), host, bound))
        except KeyboardInterrupt:
            console.print("revbot: stopped")
        finally:
            if state.workers is not None:
                state.workers.close()
