"""HTTP mode: an aiohttp server with Slack's single endpoint `/slack/events` (slash commands,
events and interactivity; bolt checks the signature and the timestamp) and `GET /healthz`."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.background import until_stopped
from bot.slack_client import close_connections, keep_connections
from bot.state import BotState

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
STATE_KEY = web.AppKey("revbot_state", BotState)


def make_web_app(app: AsyncApp, state: BotState) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_request: web.Request) -> web.Response:
        workers = state.workers
        return web.json_response(
            {
                "ok": True,
                "answers_in_flight": len(state.tasks),
                # answers in worker processes: have they computed the org-wide numbers yet (`bot.org_warm_up`)
                "org_numbers_warm": workers.org_numbers_warm() if workers is not None else None,
                # and every rep's and manager's own numbers (`bot.people_warm_up`)
                "people_numbers_warm": workers.people_numbers_warm() if workers is not None else None,
            }
        )

    async def open_connections(_web_app: web.Application) -> None:
        await keep_connections(state.services.slack)

    async def drain_on_shutdown(_web_app: web.Application) -> None:
        await state.tasks.drain(timeout=10)
        await state.responses.close()
        await close_connections(state.services.slack)

    web_app = web.Application()
    web_app[STATE_KEY] = state
    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get(HEALTH_PATH, healthz)
    web_app.on_startup.append(open_connections)
    web_app.on_shutdown.append(drain_on_shutdown)
    return web_app


async def start_http(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (for cleanup) and the bound port (port 0 = any free)."""
    # No access log: every command already writes an audit_log row, and formatting a log line per
    # request was ~5% of the bot process's CPU under a burst of commands.
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound


async def serve_forever(web_app: web.Application, host: str, port: int) -> None:
    runner, bound = await start_http(web_app, host, port)
    log.info("revbot listening on http://%s:%s%s", host, bound, EVENTS_PATH)
    try:
        await until_stopped()
    finally:
        await runner.cleanup()  # runs drain_on_shutdown: answers in flight are delivered first
