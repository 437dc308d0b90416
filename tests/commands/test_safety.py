"""Every command: hostile names stay inert, customer success sees no deal amounts, every reply
passes Block Kit validation (the `Ask` helper validates each message)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from commands.registry import UsageError, all_commands
from commands.rendering import Message
from storage.scope import Scope
from tests.commands.conftest import Ask

EVERY_ANSWER = [
    ("pipeline", "all"),
    ("pipeline", "all next quarter"),
    ("deal", "channel"),
    ("deal", "0060003"),
    ("target", "all"),
    ("forecast", "all"),
    ("retention", ""),
    ("retention", "account channel"),
    ("renewals", "730"),
    ("account", "channel"),
    ("funnel", ""),
    ("revbot", "help"),
    ("revbot", "status"),
    ("revbot", "whoami"),
    ("revbot", "subscribe"),
    ("revbot", "alerts"),
]
DEAL_AMOUNTS = ("$100K", "$50K", "$200K", "$80K", "$60K", "$30K", "€20K", "$22K", "$172K", "$432K")
LINK_OR_MENTION = re.compile(r"<(?!https://crm\.example/opportunity/\d+\|)[^>]*>")


def mrkdwn_texts(message: Message) -> list[str]:
    """Every string Slack parses as mrkdwn (header and button labels are plain text: inert)."""
    found = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return found


def test_every_command_is_covered() -> None:
    assert {c.name for c in all_commands()} == {name for name, _ in EVERY_ANSWER}


@pytest.mark.parametrize(("command", "text"), EVERY_ANSWER)
def test_hostile_names_stay_inert(ask: Ask, command: str, text: str) -> None:
    message = ask(command, text, who="alvin")
    for mrkdwn in mrkdwn_texts(message):
        assert not LINK_OR_MENTION.search(mrkdwn), mrkdwn


def test_hostile_deal_shows_escaped(ask: Ask) -> None:
    texts = "\n".join(mrkdwn_texts(ask("deal", "0060003", who="alvin")))
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in texts


@pytest.mark.parametrize(("command", "text"), EVERY_ANSWER)
def test_without_amounts_no_deal_amount_appears(ask: Ask, command: str, text: str) -> None:
    hidden = Scope(label="everyone", show_amounts=False)
    message = ask(command, text, who="monica", scope=hidden)
    joined = "\n".join(mrkdwn_texts(message))
    for amount in DEAL_AMOUNTS:
        assert amount not in joined, (amount, joined)


JUNK = [
    "",
    "help me",
    "<!here>",
    "<@U999>",
    "team",
    "Q9",
    "FY",
    "2026-13",
    "&lt;script&gt;",
    "x" * 500,
    "🙂",
    "'; DROP",
]


@pytest.mark.parametrize("command", sorted({name for name, _ in EVERY_ANSWER}))
def test_junk_is_an_answer_or_a_usage_error(ask: Ask, command: str) -> None:
    for junk in JUNK:
        try:
            ask.parse(command, junk, who="alvin")
        except UsageError as problem:
            assert str(problem), junk
