"""Importing this module registers every slash command (one module per command)."""

from __future__ import annotations

from commands import revbot  # noqa: F401
