"""Who is asking: a Slack user is mapped to a CRM user by email.

Slack → email goes through `users.info` (needs the `users:read.email` scope) and is cached with a
TTL, so a busy channel costs one API call per person per TTL, not one per command. Email → CRM user
is a database lookup; `roles` in revbot.toml overrides the CRM role by email and can also admit
people who own nothing in the CRM (a CRO, a RevOps admin, a CSM).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from commands.registry import Caller
from commands.rendering import escape_mrkdwn
from storage.config import RevbotConfig
from storage.models import User

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 600.0
CONFIG_ONLY_USER_ID = 0  # a caller admitted by revbot.toml `roles` who is not a CRM user


@dataclass(frozen=True)
class SlackProfile:
    slack_user_id: str
    email: str | None
    name: str


class SlackDirectory:
    """Slack user id → profile, cached for `ttl` seconds (failures are not cached)."""

    def __init__(
        self, client: AsyncWebClient, ttl: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, SlackProfile]] = {}

    async def profile(self, slack_user_id: str) -> SlackProfile | None:
        cached = self._cache.get(slack_user_id)
        if cached and self._clock() - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.users_info(user=slack_user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", slack_user_id, exc.response.get("error"))
            return None
        user = response.get("user") or {}
        profile_json = user.get("profile") or {}
        profile = SlackProfile(
            slack_user_id=slack_user_id,
            email=(profile_json.get("email") or "").strip().lower() or None,
            name=profile_json.get("real_name") or user.get("real_name") or user.get("name") or slack_user_id,
        )
        self._cache[slack_user_id] = (self._clock(), profile)
        return profile

    def forget(self, slack_user_id: str) -> None:
        self._cache.pop(slack_user_id, None)


# Built once: every request asks.
_USER_BY_EMAIL = (
    select(User.id, User.name, User.email, User.role, User.team_id, User.slack_user_id)
    .where(func.lower(User.email) == bindparam("email"))
    .limit(1)
)


def caller_for_email(
    session: Session, config: RevbotConfig, email: str, slack_user_id: str | None = None, name: str = ""
) -> Caller | None:
    """The CRM user with this email (role overridden by config), a config-only caller, or None."""
    folded = email.strip().lower()
    if not folded:
        return None
    user = session.execute(_USER_BY_EMAIL, {"email": folded}).first()
    configured_role = config.roles.get(folded)
    if user is not None:
        return Caller(
            user_id=user.id,
            name=user.name,
            email=user.email or folded,
            role=configured_role or user.role,
            team_id=user.team_id,
            slack_user_id=slack_user_id or user.slack_user_id,
        )
    if configured_role is not None:
        return Caller(
            user_id=CONFIG_ONLY_USER_ID,
            name=name or folded.split("@")[0],
            email=folded,
            role=configured_role,
            team_id=None,
            slack_user_id=slack_user_id,
        )
    return None


def unknown_user_text(email: str | None) -> str:
    """What someone revbot cannot place is told: friendly, and says exactly what to ask for."""
    if not email:
        return (
            "Hi! I couldn't read the email address on your Slack profile, so I can't match you to the CRM. "
            "Ask your RevOps admin to check that revbot has the `users:read.email` scope."
        )
    email = escape_mrkdwn(email)
    return (
        f"Hi! I don't know *{email}* yet, so I can't tell which deals are yours. "
        f"Ask your RevOps admin to add {email} to the CRM, or to `roles` in revbot.toml "
        f'(for example `"{email}" = "rep"`).'
    )
