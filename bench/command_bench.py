"""Slash commands over HTTP against a big database: ack time and time to the full answer.

Starts the Slack Web API stand-in and the real bot (bolt + aiohttp) on loopback, then sends
Slack-signed slash commands, `--concurrency` at a time, as a demo rep (rep scope) and as a demo
exec (org scope). Ack = the HTTP round trip of the signed POST; full answer = from sending until
the reply arrives at the response_url. Client and bot share one process and event loop, so the
figures include the client's own overhead.

    python bench/command_bench.py --db /tmp/revbot-bench-1m.db --requests 100 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402

from storage.config import RevbotConfig  # noqa: E402
from storage.database import make_engine  # noqa: E402
from storage.demo import demo_personas  # noqa: E402
from tests.bot.harness import start_bot  # noqa: E402
from tests.support.slack_api import SlackApiStandIn  # noqa: E402

COMMANDS = (("/pipeline", ""), ("/target", ""), ("/forecast", ""), ("/deal", "software"), ("/revbot", "status"))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_case(harness, api, arrivals, command: str, text: str, email: str, requests: int, concurrency: int):
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    fulls: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        async with gate:
            started = time.perf_counter()
            key, ack = await harness.send_command(command, text, user=email)
            acks.append(ack.seconds)
            if ack.status != 200:
                errors += 1
                return
            await api.wait_for_response(key, timeout=120)
            fulls.append(arrivals[key] - started)
            if api.responses_for(key)[0].get("text", "").startswith("Something went wrong"):
                errors += 1

    await asyncio.gather(*(one() for _ in range(requests)))
    return acks, fulls, errors


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/revbot-bench-1m.db")
    parser.add_argument("--requests", type=int, default=100, help="requests per command and scope")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", nargs="*", help="commands to run, e.g. /pipeline /revbot (default: all)")
    args = parser.parse_args()
    if not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist: build it with `revbot demo --deals 1000000` first")
    url = f"sqlite:///{args.db}"
    engine = make_engine(url)

    api = SlackApiStandIn()
    arrivals: dict[str, float] = {}
    original = api._respond

    async def timed_respond(request: web.Request) -> web.Response:
        arrivals[request.match_info["key"]] = time.perf_counter()
        return await original(request)

    api._respond = timed_respond  # type: ignore[method-assign]
    await api.start()
    harness, runner = await start_bot(api, engine, RevbotConfig(), url)
    personas = demo_personas()
    async with harness:
        deals = engine.connect().exec_driver_sql("select count(*) from deals").scalar()
        print(f"database: {args.db} ({deals:,} deals); {args.requests} requests per row, {args.concurrency} at a time")
        print(f"{'command':<18}{'scope':<6}{'ack p50':>9}{'p95':>8}{'p99':>8}{'answer p50':>12}{'p95':>8}{'errors':>8}")
        for command, text in [c for c in COMMANDS if not args.only or c[0] in args.only]:
            for scope, role in (("rep", "rep"), ("org", "exec")):
                await run_case(harness, api, arrivals, command, text, personas[role], 5, 5)  # warm caches
                acks, fulls, errors = await run_case(
                    harness, api, arrivals, command, text, personas[role], args.requests, args.concurrency
                )
                ms = [1000 * v for v in acks]
                full_ms = [1000 * v for v in fulls]
                print(
                    f"{(command + ' ' + text).strip():<18}{scope:<6}{statistics.median(ms):>8.0f}m"
                    f"{percentile(ms, 95):>7.0f}m{percentile(ms, 99):>7.0f}m"
                    f"{statistics.median(full_ms):>11.0f}m{percentile(full_ms, 95):>7.0f}m{errors:>8}"
                )
    await runner.cleanup()
    await api.stop()


if __name__ == "__main__":
    asyncio.run(main())
