"""Median days in stage, for the "stalled" rule of /pipeline: computed in SQL and kept for a while.

`metrics.pipeline.stalled_deals` calls a deal stalled when it has been in its stage more than
`pipeline.stalled_stage_multiple` × the median days the open deals in scope have spent in that
stage. Those medians move slowly (a day at a time), yet for a big org they cost reading and sorting
every open deal's entry time (200k on 1M deals), so they are cached per database, scope and day for
`TTL_SECONDS` (10 minutes). A new successful sync or import (a newer `sync_runs` row) starts afresh,
and so does a new engine (a restart, or each test's own database). Within the TTL, deals edited
behind revbot's back may be judged against medians up to 10 minutes old.
"""

from __future__ import annotations

from sqlalchemy import Engine

from commands.registry import CommandContext
from commands.shared_numbers import KeptPerDatabase, is_recomputing
from storage.queries import stage_age_medians_sql

TTL_SECONDS = 600.0
_MAX_ENTRIES = 512  # per database: scopes × days; old entries go first

_kept = KeptPerDatabase(TTL_SECONDS, _MAX_ENTRIES)


def stage_medians(ctx: CommandContext) -> dict[str, float]:
    """Median days in stage of the open deals in `ctx.scope` (cached, see the module docstring)."""
    bind = ctx.session.get_bind()
    if not isinstance(bind, Engine):
        return stage_age_medians_sql(ctx.session, ctx.scope, today=ctx.today)
    key = (ctx.scope.owner_ids, ctx.today, ctx.data_version)
    kept = None if is_recomputing() else _kept.get(bind, key)
    if kept is not None:
        return dict(kept)
    medians = stage_age_medians_sql(ctx.session, ctx.scope, today=ctx.today)
    _kept.put(bind, key, medians)
    return dict(medians)


def clear() -> None:
    """Forget every cached median (tests, and after bulk edits)."""
    _kept.clear()
