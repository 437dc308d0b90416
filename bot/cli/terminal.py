"""Block Kit → terminal: how `revbot ask` and `revbot demo` show an answer with Rich."""

from __future__ import annotations

import html
import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from commands.rendering import Message

LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
MENTION = re.compile(r"<([@#])([A-Z0-9]+)(?:\|([^>]*))?>")
SPECIAL = re.compile(r"<!(\w+)(?:\|([^>]*))?>")
BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])")
CODE = re.compile(r"`([^`\n]+)`")


def mrkdwn_to_rich(text: str) -> str:
    """Slack mrkdwn → Rich markup. Rich's own markup in the text is escaped first, so a deal
    named "[red]x" prints as typed."""
    text = escape(text)
    text = LINK.sub(lambda m: f"[link={m.group(1)}]{m.group(2)}[/link]", text)
    text = BARE_LINK.sub(lambda m: f"[link={m.group(1)}]{m.group(1)}[/link]", text)
    text = MENTION.sub(lambda m: f"{m.group(1)}{m.group(3) or m.group(2)}", text)
    text = SPECIAL.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = CODE.sub(r"[cyan]\1[/cyan]", text)
    text = BOLD.sub(r"[bold]\1[/bold]", text)
    text = ITALIC.sub(r"[italic]\1[/italic]", text)
    return html.unescape(text)


def print_message(console: Console, message: Message) -> None:
    if not message.blocks:
        console.print(mrkdwn_to_rich(message.text), highlight=False)
    for block in message.blocks:
        print_block(console, block)


def print_block(console: Console, block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "header":
        console.print(f"[bold underline]{escape(block['text']['text'])}[/]", highlight=False)
    elif kind == "divider":
        console.print(Rule(style="dim"))
    elif kind == "context":
        texts = [_text_of(e) for e in block.get("elements", [])]
        console.print(f"[dim]{'  '.join(mrkdwn_to_rich(t) for t in texts if t)}[/dim]", highlight=False)
    elif kind == "section":
        if block.get("text"):
            console.print(mrkdwn_to_rich(_text_of(block["text"])), highlight=False)
        fields = [mrkdwn_to_rich(_text_of(f)) for f in block.get("fields", [])]
        if fields:
            console.print("    ".join(fields), highlight=False)
        if block.get("accessory"):
            _print_element(console, block["accessory"])
    elif kind == "actions":
        for element in block.get("elements", []):
            _print_element(console, element)
    elif kind == "image":
        console.print(f"[dim]\\[image: {escape(block.get('alt_text', ''))}][/dim]", highlight=False)
    console.print()


def _print_element(console: Console, element: dict[str, Any]) -> None:
    label = _text_of(element.get("text") or {})
    url = element.get("url")
    shown = f"[reverse] {escape(html.unescape(label))} [/reverse]"
    console.print(f"{shown} [dim]{escape(url)}[/dim]" if url else shown, highlight=False)


def _text_of(obj: dict[str, Any]) -> str:
    text = obj.get("text", "")
    return html.unescape(text) if obj.get("type") == "plain_text" else text
