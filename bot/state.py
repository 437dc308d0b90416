"""What listeners share at run time: services, the Slack directory cache, background answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.answer_workers import AnswerWorkers
from bot.background import BackgroundTasks
from bot.identity import SlackDirectory
from bot.services import Services
from bot.slack_client import ResponseUrls


@dataclass
class BotState:
    services: Services
    directory: SlackDirectory
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    responses: ResponseUrls = field(default_factory=ResponseUrls)  # replies through response_url
    workers: AnswerWorkers | None = None  # answer in worker processes (`bot.answer_workers`), else threads

    @classmethod
    def build(cls, services: Services) -> BotState:
        return cls(services=services, directory=SlackDirectory(services.slack))
