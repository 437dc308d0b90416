"""`revbot demo` section: the Monday digest as it would be posted, and the alerts firing today."""

from __future__ import annotations

import asyncio

from rich.console import Console

from bot.cli.runtime import Runtime
from digests.alerts.engine import run_alerts
from digests.runner import prepare
from digests.terminal import blocks_to_text


def show(runtime: Runtime, console: Console) -> None:
    """Preview only: nothing is claimed, stored or sent."""
    console.rule("Monday digest (preview)")
    for prepared in prepare(runtime.engine, runtime.config, "monday", with_charts=False):
        console.print(blocks_to_text(prepared.message.blocks), highlight=False, markup=False)
        break
    report = asyncio.run(run_alerts(runtime.engine, None, runtime.config, post=False))
    firing = [p for p in report.plan if p.decision.action == "fire" and p.candidate is not None]
    console.rule(f"Alerts that would fire today: {len(firing)}")
    by_rule: dict[str, int] = {}
    for item in firing:
        by_rule[item.candidate.rule] = by_rule.get(item.candidate.rule, 0) + 1
    for rule, count in sorted(by_rule.items(), key=lambda kv: -kv[1]):
        console.print(f"  {rule}: {count}", highlight=False)
    for item in sorted(firing, key=lambda p: -p.candidate.severity)[:8]:
        console.print(f"  • {item.candidate.title}", highlight=False, markup=False)
    console.print("Post them with `revbot alerts check --post`; preview digests with `revbot digest monday --preview`.")
