"""What listeners share at run time: services, the Slack directory cache, background answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.background import BackgroundTasks
from bot.identity import SlackDirectory
from bot.services import Services


@dataclass
class BotState:
    services: Services
    directory: SlackDirectory
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)

    @classmethod
    def build(cls, services: Services) -> BotState:
        return cls(services=services, directory=SlackDirectory(services.slack))
