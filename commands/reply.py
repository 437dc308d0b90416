"""What every command's answer shares: one template environment, the "data as of …" footer with
its staleness warning, the reporting currency and zone.

Commands call `answer(ctx, "pipeline.j2", fallback=..., **values)`; every template ends with
`{% include "_footer.j2" %}`, which reads the values added here. (`/<command> help` is answered by
the dispatcher from the registry.)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment

from commands.registry import CommandContext
from commands.rendering import Message, make_environment, render
from storage.freshness import freshness_as_of

LIST_LIMIT = 10  # rows of a list before "and N more"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return make_environment()


def answer(ctx: CommandContext, template: str, *, fallback: str, **values: Any) -> Message:
    """Render `template` with the values every reply needs, validated for Block Kit."""
    freshness = freshness_as_of(ctx.data_version, stale_after_hours=ctx.config.freshness.stale_after_hours, now=ctx.now)
    common: dict[str, Any] = {
        "freshness": freshness,
        "stale_after_hours": ctx.config.freshness.stale_after_hours,
        "zone": ctx.config.zone,
        "currency": ctx.config.reporting_currency,
        "scope_label": ctx.scope.label,
        "show_amounts": ctx.scope.show_amounts,
        "today": ctx.today,
        "list_limit": LIST_LIMIT,
    }
    return render(environment(), template, fallback=fallback, **{**common, **values})
