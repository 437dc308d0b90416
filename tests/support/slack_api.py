"""A Slack Web API stand-in on loopback: answers like Slack, records every call, fails on demand.

Point slack_sdk at it with `SLACK_API_URL=<stand-in>.api_url`. Slash-command `response_url`s can
point at `<stand-in>.response_url(...)`, and what bolt's `respond()` sends there is recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    token: str | None
    client: tuple[str, int] | None = None  # the caller's address and port: one per HTTP connection


@dataclass
class Failure:
    error: str
    status: int = 200
    retry_after: int | None = None
    times: int = 1


@dataclass
class SlackUser:
    id: str
    email: str
    name: str
    tz: str = "America/New_York"


@dataclass
class SlackApiStandIn:
    host: str = "127.0.0.1"
    calls: list[ApiCall] = field(default_factory=list)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    uploads: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, SlackUser] = field(default_factory=dict)
    channels_joined: set[str] = field(default_factory=set)
    _failures: dict[str, list[Failure]] = field(default_factory=lambda: defaultdict(list))
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> SlackApiStandIn:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.base_url}/respond/{key}"

    # --- test controls -------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str, name: str = "", tz: str = "America/New_York") -> None:
        self.users[user_id] = SlackUser(user_id, email, name or email.split("@")[0], tz)

    def fail(
        self, method: str, error: str, *, status: int = 200, retry_after: int | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with `error` (HTTP `status`, Retry-After)."""
        self._failures[method].append(Failure(error, status, retry_after, times))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def messages_to(self, channel: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls_to("chat.postMessage") if c.params.get("channel") == channel]

    def responses_for(self, key: str = "1") -> list[dict[str, Any]]:
        return self.responses[key]

    async def wait_for_response(self, key: str = "1", *, count: int = 1, timeout: float = 10) -> dict[str, Any]:
        """Wait until `count` responses arrived at response_url `key`; return the last one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.responses[key]) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no response #{count} at response_url {key!r} within {timeout}s")
            await asyncio.sleep(0.01)
        return self.responses[key][count - 1]

    # --- handlers ------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else "<file>"
        for key in ("blocks", "attachments", "view", "files"):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.calls.append(ApiCall(method, params, token, tuple(peer[:2]) if peer else None))
        queued = self._failures.get(method)
        if queued:
            failure = queued[0]
            failure.times -= 1
            if failure.times <= 0:
                queued.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)
        return web.json_response(self._answer(method, params))

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if method == "auth.test":
            return {"ok": True, "url": "https://revbot-test.slack.com/", "team": "Test", "user": "revbot",
                    "team_id": "T0TEST", "user_id": "U0BOT", "bot_id": "B0BOT"}
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts"), "text": params.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.join":
            self.channels_joined.add(str(channel))
            return {"ok": True, "channel": {"id": channel}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "X")).split(",")[0]}}
        if method == "users.info":
            user = self.users.get(str(params.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": _user_json(user)}
        if method == "users.lookupByEmail":
            email = str(params.get("email", "")).lower()
            match = next((u for u in self.users.values() if u.email.lower() == email), None)
            if match is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": _user_json(match)}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V" + self._next_ts(), **(params.get("view") or {})}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        return {"ok": True}

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses[request.match_info["key"]].append(body)
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK")


def _user_json(user: SlackUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.name,
        "tz": user.tz,
        "profile": {"email": user.email, "real_name": user.name, "display_name": user.name},
    }
