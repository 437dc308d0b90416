"""Block Kit → plain text for terminals (`revbot digest --preview`, `revbot alerts check`, the demo)."""

from __future__ import annotations

import html
import re
from typing import Any

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def plain(text: str) -> str:
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    return html.unescape(text)


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * len(title)]
        elif kind == "divider":
            lines.append("-" * 60)
        elif kind == "section":
            lines.append(plain(block["text"]["text"]))
        elif kind == "context":
            lines.append("  " + " ".join(plain(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "actions":
            lines.append("  [" + "] [".join(e["text"]["text"] for e in block.get("elements", [])) + "]")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
