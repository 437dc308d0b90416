"""Importing this module registers every slash command (one module per command)."""

from __future__ import annotations

from commands import account, deal, forecast, funnel, pipeline, renewals, retention, revbot, target  # noqa: F401
