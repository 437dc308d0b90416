"""Importing this module registers every slash command (one module per command)."""

from __future__ import annotations

from commands import deal, forecast, pipeline, revbot, target  # noqa: F401
