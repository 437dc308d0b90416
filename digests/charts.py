"""Digest charts as PNG bytes (matplotlib, Agg backend: no display, safe in a worker process).

The digest text already says everything; a chart is a picture of two of its numbers:
bookings against the target pace week by week, and last week's pipeline movement.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pandas as pd

from commands.rendering import money
from digests.weekly import WeeklyDigest

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported on first use: it takes about a second to
    import, and only digests with charts need it (not `revbot --help`, not the slash commands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def _money(value: float, currency: str) -> str:
    return str(money(value, currency)).replace("$", r"\$")  # a bare $ starts matplotlib mathtext


def bookings_vs_target_png(digest: WeeklyDigest) -> bytes:
    quarter = digest.quarter
    cumulative = digest.bookings_by_week
    figure, axes = _pyplot().subplots(figsize=(7, 3.2))
    axes.plot(cumulative.index, cumulative.values, marker="o", color="#2E86AB", label="Closed-won (cumulative)")
    target = digest.attainment.target
    if target:
        axes.plot([pd.Timestamp(quarter.start), pd.Timestamp(quarter.end)], [0, target], linestyle="--",
                  color="#A23B72", label=f"Target pace ({_money(target, digest.currency)})")
    axes.set_title(f"Bookings vs target, {quarter.label} ({digest.scope_label})")
    axes.yaxis.set_major_formatter(lambda v, _pos: _money(v, digest.currency))
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def pipeline_bridge_png(digest: WeeklyDigest) -> bytes:
    """Last week's movement as bars: what came in (new, advanced), what went out (slipped, won, lost)."""
    labels = [m.label for m in digest.movement]
    values = [m.amount for m in digest.movement]
    colors = ["#3B8EA5", "#6BAA75", "#F18F01", "#2E7D32", "#C73E1D"][: len(labels)]
    figure, axes = _pyplot().subplots(figsize=(7, 3.2))
    bars = axes.bar(labels, values, color=colors)
    for bar, movement in zip(bars, digest.movement, strict=True):
        axes.annotate(f"{movement.count}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)
    axes.set_title(f"Pipeline movement, {digest.week.label} ({digest.scope_label})")
    axes.yaxis.set_major_formatter(lambda v, _pos: _money(v, digest.currency))
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)
