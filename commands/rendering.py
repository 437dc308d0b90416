"""Replies are data: a `Message` (fallback text + Block Kit) rendered from a Jinja2 template.

Templates are written in a small block markup so they stay readable and users can override them:

    # Header text                 → header block (plain text, cut at 150 characters)
    ---                           → divider
    > context line                → context block (small grey mrkdwn)
    any other paragraph           → section block (mrkdwn; split to stay under 3,000 characters)

Paragraphs are separated by blank lines. Every `{{ value }}` is escaped for mrkdwn unless it is a
`Mrkdwn` (text built by revbot itself, like a link to the CRM), so a deal named `<!channel>` pings
nobody and nothing user-controlled becomes a link. Blocks are checked against Slack's limits with
slack_sdk's Block Kit models before a message leaves this module.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_TEXT_CHARS = 3000
TEMPLATES_DIR = Path(__file__).parent / "templates"

T = TypeVar("T")


class Mrkdwn(str):
    """Text that is already valid, trusted mrkdwn (built by revbot, user strings escaped inside)."""

    __slots__ = ()


def escape_mrkdwn(value: object) -> str:
    """Make a user-controlled string inert in mrkdwn: only &, < and > have to go."""
    if isinstance(value, Mrkdwn):
        return value
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: object) -> Mrkdwn:
    """A link whose label is user text; the URL comes from the CRM sync, never from free text."""
    safe_label = escape_mrkdwn(label).replace("|", "¦")
    if not url or not url.startswith(("https://", "http://")):
        return Mrkdwn(safe_label)
    return Mrkdwn(f"<{escape_mrkdwn(url).replace('|', '%7C')}|{safe_label}>")


def user_mention(slack_user_id: str | None, fallback_name: object) -> Mrkdwn:
    """Mention a person by Slack id when revbot knows it (ids are validated), else their name."""
    if slack_user_id and slack_user_id.isalnum():
        return Mrkdwn(f"<@{slack_user_id}>")
    return Mrkdwn(escape_mrkdwn(fallback_name))


# --- numbers, money, dates -------------------------------------------------------------------

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "C$"}


def money(amount: float | None, currency: str = "USD") -> Mrkdwn:
    """$1.2M, $950K, $9,500; "n/a" for missing values."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return Mrkdwn("n/a")
    sign = "−" if amount < 0 else ""
    value = abs(float(amount))
    symbol = CURRENCY_SYMBOLS.get(currency)
    if value >= 1_000_000_000:
        number = f"{value / 1_000_000_000:.1f}B"
    elif value >= 1_000_000:
        number = f"{value / 1_000_000:.1f}M"
    elif value >= 10_000:
        number = f"{value / 1_000:.0f}K"
    else:
        number = f"{value:,.0f}"
    return Mrkdwn(f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}")


def percent(ratio: float | None, digits: int = 0) -> Mrkdwn:
    """0.873 → 87%; None (a zero denominator upstream) → n/a."""
    if ratio is None or (isinstance(ratio, float) and (math.isnan(ratio) or math.isinf(ratio))):
        return Mrkdwn("n/a")
    return Mrkdwn(f"{ratio * 100:.{digits}f}%")


def number(value: float | None, digits: int = 0) -> Mrkdwn:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Mrkdwn("n/a")
    return Mrkdwn(f"{value:,.{digits}f}")


def format_date(value: date | datetime | None, zone: tzinfo | str | None = None) -> Mrkdwn:
    """Dates as 'Nov 23, 2026'; a naive UTC datetime is first moved into the configured zone."""
    if value is None:
        return Mrkdwn("—")
    if isinstance(value, datetime):
        value = _in_zone(value, zone).date()
    return Mrkdwn(f"{value:%b} {value.day}, {value.year}")


def format_datetime(value: datetime | None, zone: tzinfo | str | None = None) -> Mrkdwn:
    if value is None:
        return Mrkdwn("—")
    local = _in_zone(value, zone)
    return Mrkdwn(f"{local:%b} {local.day}, {local:%H:%M %Z}".strip())


def _in_zone(value: datetime, zone: tzinfo | str | None) -> datetime:
    if zone is None:
        return value
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(tz)


def first_n(items: Sequence[T], limit: int) -> tuple[list[T], int]:
    """The first `limit` items and how many were left out, for "and N more" lines."""
    shown = list(items[:limit])
    return shown, max(0, len(items) - len(shown))


# --- templates → blocks ----------------------------------------------------------------------


def _finalize(value: Any) -> str:
    return escape_mrkdwn(value)


def make_environment(*extra_dirs: str | Path) -> Environment:
    """A Jinja2 environment whose output is escaped for mrkdwn; `extra_dirs` are searched first,
    which is how digests and admin overrides replace a built-in template."""
    loaders = [FileSystemLoader(str(d)) for d in extra_dirs] + [FileSystemLoader(str(TEMPLATES_DIR))]
    env = Environment(
        loader=ChoiceLoader(loaders),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.filters.update(
        money=money,
        percent=percent,
        number=number,
        date=format_date,
        datetime=format_datetime,
        link=link,
        mention=user_mention,
        mrkdwn=escape_mrkdwn,
    )
    return env


@dataclass
class Message:
    """What revbot says: `text` is the notification/fallback, `blocks` the Block Kit layout."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    # set by `render`, which validates its blocks: the dispatcher then need not check them again
    validated: bool = field(default=False, compare=False, repr=False)

    def to_slack(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks, "unfurl_links": False, "unfurl_media": False}


def blocks_from_markup(markup: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for paragraph in _paragraphs(markup):
        if paragraph == "---":
            blocks.append({"type": "divider"})
        elif paragraph.startswith("# "):
            title, _, rest = paragraph.partition("\n")
            blocks.append(header_block(title[2:]))
            if rest.strip():
                blocks.extend(blocks_from_markup(rest))
        elif all(line.startswith(">") for line in paragraph.splitlines()):
            text = "\n".join(line[1:].strip() for line in paragraph.splitlines())
            blocks.append(context_block(text))
        else:
            blocks.extend(section_blocks(paragraph))
    return blocks


def _paragraphs(markup: str) -> Iterable[str]:
    current: list[str] = []
    for line in markup.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT_CHARS]}]}


def header_block(text: str) -> dict[str, Any]:
    plain = html.unescape(text.strip())  # plain_text cannot mention or link, so show names as typed
    if len(plain) > MAX_HEADER_CHARS:
        plain = plain[: MAX_HEADER_CHARS - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": True}}


def section_blocks(text: str) -> list[dict[str, Any]]:
    """One section, or several when the text is longer than a section may be (split on lines)."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > MAX_SECTION_CHARS:
            chunks.append(line[:MAX_SECTION_CHARS])
            line = line[MAX_SECTION_CHARS:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION_CHARS:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]


def fit_block_limit(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    cut = len(blocks) - (MAX_BLOCKS - 1)
    return blocks[: MAX_BLOCKS - 1] + [context_block(f"…and {cut} more blocks not shown")]


def validate_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raise slack_sdk's SlackObjectFormationError when a block breaks one of Slack's limits."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; Slack allows {MAX_BLOCKS}")
    for block in blocks:
        parsed = Block.parse(block)
        if parsed is None:
            raise ValueError(f"not a Block Kit block: {block!r}")
        parsed.to_dict()
    return blocks


def render(
    env: Environment,
    template_name: str,
    *,
    fallback: str,
    extra_blocks: Sequence[dict[str, Any]] = (),
    **context: Any,
) -> Message:
    """Render a template to a validated Message. `fallback` is plain text for notifications and
    is escaped like everything else."""
    markup = env.get_template(template_name).render(**context)
    blocks = fit_block_limit(blocks_from_markup(markup) + list(extra_blocks))
    text = escape_mrkdwn(fallback)[:MAX_TEXT_CHARS]
    return Message(text=text, blocks=validate_blocks(blocks), validated=True)
