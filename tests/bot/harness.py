"""The bot under test, over real HTTP: the Slack Web API stand-in on loopback, the real bolt app
behind the real aiohttp server on a random port, and a client that talks to it exactly as Slack
does (form bodies, `X-Slack-Request-Timestamp`, `X-Slack-Signature` v0 HMAC-SHA256).

    reply = await slack.command("/pipeline", "team emea", user="dana@acme.test")
    assert "Globex Platform Deal" in reply.plain
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from sqlalchemy import Engine

from bot.app import build_app
from bot.http import make_web_app, start_http
from bot.services import Services
from bot.state import BotState
from storage.config import RevbotConfig
from storage.database import session_factory
from storage.settings import Settings
from tests.support.slack_api import SlackApiStandIn

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-revbot"
TEAM_ID = "T0TEST"
API_APP_ID = "A0REVBOT"


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_user_id_for(email: str) -> str:
    """A stable Slack-looking id per email (Slack ids are upper-case alphanumerics)."""
    return "U" + hashlib.sha1(email.lower().encode()).hexdigest()[:10].upper()


@dataclass
class HttpResult:
    status: int
    text: str
    seconds: float  # wall time of the HTTP exchange (for benchmarks; tests assert behaviour)

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class Reply:
    """What arrived at the response_url, plus how the command was acknowledged."""

    text: str
    blocks: list[dict[str, Any]]
    response_type: str | None
    raw: dict[str, Any]
    ack: HttpResult
    extra_responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plain(self) -> str:
        """Every visible string of the reply (fallback text and all block texts), for scanning."""
        return "\n".join([self.text, *_block_texts(self.blocks)])


def _block_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for key, value in node.items() if key != "text" or not isinstance(value, str)
                        for t in _block_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _block_texts(item)]
    return []


class SlackHarness:
    def __init__(self, api: SlackApiStandIn, services: Services, state: BotState, base_url: str) -> None:
        self.api = api
        self.services = services
        self.state = state
        self.base_url = base_url
        self.events_url = f"{base_url}/slack/events"
        self._http: aiohttp.ClientSession | None = None
        self._keys = itertools.count(1)

    # --- people ---------------------------------------------------------------------------

    def user(self, who: Any, name: str = "") -> str:
        """The Slack user id for an email, a fixture Person or a CRM User (anything with .email),
        adding them to the stand-in's directory the first time. A plain Slack id passes through."""
        email = getattr(who, "email", who)
        if not isinstance(email, str) or "@" not in email:
            return str(who)
        slack_id = slack_user_id_for(email)
        if slack_id not in self.api.users:
            self.api.add_user(slack_id, email, name or getattr(who, "name", "") or email.split("@")[0])
        return slack_id

    # --- what Slack sends -----------------------------------------------------------------

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        user: Any,
        channel: str = "C0GENERAL",
        channel_name: str = "general",
        timeout: float = 10,
        responses: int = 1,
    ) -> Reply:
        """Send a signed slash command and wait for the answer at its response_url."""
        key, ack = await self.send_command(command, text, user=user, channel=channel, channel_name=channel_name)
        if ack.status != 200:
            raise AssertionError(f"{command} {text!r} was not acknowledged: HTTP {ack.status} {ack.text}")
        last = await self.api.wait_for_response(key, count=responses, timeout=timeout)
        everything = self.api.responses_for(key)
        return Reply(
            text=last.get("text", ""),
            blocks=last.get("blocks") or [],
            response_type=last.get("response_type"),
            raw=last,
            ack=ack,
            extra_responses=everything[:-1],
        )

    async def send_command(
        self, command: str, text: str = "", *, user: Any, channel: str = "C0GENERAL", channel_name: str = "general"
    ) -> tuple[str, HttpResult]:
        """Send a signed slash command; return its response_url key and the ack (don't wait)."""
        slack_id = self.user(user)
        key = f"cmd{next(self._keys)}"
        form = {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": TEAM_ID,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": slack_id,
            "user_name": self.api.users[slack_id].name if slack_id in self.api.users else slack_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.api.response_url(key),
            "trigger_id": f"13345224609.738474920.{key}",
        }
        return key, await self.raw_post(urlencode(form))

    async def event(self, event: dict[str, Any]) -> HttpResult:
        """Deliver an Events API event (wrapped in its event_callback envelope)."""
        envelope = {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": TEAM_ID,
            "api_app_id": API_APP_ID,
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": f"Ev{next(self._keys):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
        }
        return await self.raw_post(json.dumps(envelope), content_type="application/json")

    async def action(self, payload: dict[str, Any]) -> HttpResult:
        """Deliver an interactivity payload (button clicks: `{"type": "block_actions", ...}`);
        team, api_app_id and a response_url are filled in when missing."""
        full = {
            "team": {"id": TEAM_ID, "domain": "acme"},
            "api_app_id": API_APP_ID,
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "trigger_id": f"13345224609.738474920.act{next(self._keys)}",
            **payload,
        }
        full.setdefault("response_url", self.api.response_url(f"act{next(self._keys)}"))
        return await self.raw_post(urlencode({"payload": json.dumps(full)}))

    async def open_home(self, user: Any, timeout: float = 10) -> dict[str, Any]:
        """Open the App Home tab as `user`; return the view revbot published."""
        slack_id = self.user(user)
        before = len(self.api.calls_to("views.publish"))
        result = await self.event({"type": "app_home_opened", "user": slack_id, "channel": "D0HOME", "tab": "home"})
        assert result.status == 200, result.text
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.api.calls_to("views.publish")) <= before:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no views.publish after app_home_opened")
            await asyncio.sleep(0.01)
        return self.api.calls_to("views.publish")[-1].params

    async def raw_post(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | str | None = None,
        signature: str | None = None,
        sign_with: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> HttpResult:
        """POST to /slack/events, signed like Slack unless `signature` says otherwise."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else sign(body, ts, sign_with),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        assert self._http is not None
        started = time.perf_counter()
        async with self._http.post(self.events_url, data=body.encode(), headers=all_headers) as response:
            text = await response.text()
            return HttpResult(response.status, text, time.perf_counter() - started)

    async def get(self, path: str) -> HttpResult:
        assert self._http is not None
        started = time.perf_counter()
        async with self._http.get(f"{self.base_url}{path}") as response:
            return HttpResult(response.status, await response.text(), time.perf_counter() - started)

    async def settle(self, timeout: float = 10) -> None:
        """Wait until every background answer has finished."""
        await self.state.tasks.drain(timeout=timeout)

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> SlackHarness:
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.settle()
        if self._http is not None:
            await self._http.close()


def harness_settings(api: SlackApiStandIn, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api.api_url,
        revbot_config="/nonexistent/revbot.toml",
    )


async def start_bot(
    api: SlackApiStandIn, engine: Engine, config: RevbotConfig, database_url: str
) -> tuple[SlackHarness, web.AppRunner]:
    """Build the real bot against `engine` and serve it on a random loopback port."""
    settings = harness_settings(api, database_url)
    from bot.slack_client import make_web_client

    services = Services(settings=settings, config=config, engine=engine, sessions=session_factory(engine),
                        slack=make_web_client(settings))
    app, state = build_app(services)
    runner, port = await start_http(make_web_app(app, state), "127.0.0.1", 0)
    return SlackHarness(api, services, state, f"http://127.0.0.1:{port}"), runner
