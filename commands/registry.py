"""One registry, many faces: each slash command is defined once here and the same definition
drives the Slack listener, `revbot ask`, `/revbot help` and `revbot manifest`.

The path of every request is parse → authorize → compute → render:
- `Command.parse(text, ParseContext)` turns the argument string into the command's own args and
  names its `Subject` (whose data it is about); bad input raises `UsageError`.
- authorization lives in `bot/access.py`: it turns the caller and the subject into a `Scope`
  (or refuses with `AccessDenied`), and writes the audit log.
- `Command.run(args, CommandContext)` loads data through `storage.queries` within `ctx.scope`,
  computes with `metrics/`, and renders a `Message` from a template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.orm import Session

from commands.rendering import Message
from storage.config import RevbotConfig
from storage.freshness import newest_successful_sync
from storage.scope import Scope


class UsageError(ValueError):
    """Bad arguments. The message says what was wrong; the dispatcher adds usage and an example."""


class AccessDenied(PermissionError):
    """The caller may not see what they asked for. The message is shown to them as is."""


SubjectKind = Literal["self", "user", "team", "everyone", "account", "segment", "deal_search", "none"]


@dataclass(frozen=True)
class Subject:
    """Whose data a request is about, as parsed; access control decides if the caller may see it.

    kind: `self` (the caller's own book), `user` (value: user id), `team` (value: team id),
    `everyone`, `account` (value: account id), `segment` (value: segment name), `deal_search`
    (search within whatever the caller may see), `none` (no data: help, whoami).
    """

    kind: SubjectKind
    value: int | str | None = None
    label: str = ""


@dataclass(frozen=True)
class Caller:
    """The person asking, resolved from Slack to a CRM user by email."""

    user_id: int
    name: str
    email: str
    role: str
    team_id: int | None
    slack_user_id: str | None = None


@dataclass(frozen=True)
class ParseContext:
    """What parsing may look up: names of users and teams, today's date for periods."""

    session: Session
    config: RevbotConfig
    caller: Caller
    today: date


@dataclass
class CommandContext:
    """What a command needs to compute and render its answer."""

    session: Session
    config: RevbotConfig
    caller: Caller
    scope: Scope
    today: date  # in the configured time zone
    now: datetime  # naive UTC

    @cached_property
    def data_version(self) -> datetime | None:
        """When the newest successful sync finished: what the kept numbers are keyed on and the footer
        shows, read once per answer so both agree."""
        return newest_successful_sync(self.session)


Args = TypeVar("Args")


@dataclass(frozen=True)
class Command(Generic[Args]):
    name: str  # without the slash: "pipeline"
    description: str  # one line, for the manifest and /revbot help (Slack allows 2,000; keep it short)
    usage_hint: str  # "[@user|team NAME|all] [PERIOD]"
    examples: tuple[str, ...]  # argument strings: ("", "team emea", "@dana next quarter")
    parse: Callable[[str, ParseContext], tuple[Args, Subject]]
    run: Callable[[Args, CommandContext], Message]
    help_text: str = ""  # longer explanation shown by `/<name> help`
    subcommands: tuple[str, ...] = field(default=())

    @property
    def slash(self) -> str:
        return f"/{self.name}"

    def usage(self) -> str:
        return f"{self.slash} {self.usage_hint}".strip()


REGISTRY: dict[str, Command[Any]] = {}


def register(command: Command[Any]) -> Command[Any]:
    if command.name in REGISTRY:
        raise ValueError(f"command /{command.name} is registered twice")
    REGISTRY[command.name] = command
    return command


def all_commands() -> list[Command[Any]]:
    """Every command, after importing the modules that register them."""
    import commands.all  # noqa: F401  (registers each command module)

    return list(REGISTRY.values())


def get_command(name: str) -> Command[Any] | None:
    all_commands()
    return REGISTRY.get(name.lstrip("/"))
