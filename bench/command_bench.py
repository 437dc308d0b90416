"""Slash commands over HTTP against a big database: ack time and time to the full answer.

Starts the Slack Web API stand-in on loopback and the real bot as its own process (`revbot serve`,
answers in its worker processes, as the Procfile's `web` runs it), then sends Slack-signed slash
commands, `--concurrency` at a time. Ack = the HTTP round trip of the signed POST; full answer =
from sending until the reply arrives at the response_url (recorded by the stand-in). Each row
starts with 5 warm-up requests, not counted; the slowest of them, the first uncached answer, is
printed as "cold". The answer workers compute the org-wide numbers, then every rep's and manager's,
when they start and after each sync (`bot.warm_up`); the bench waits for that (its time is printed)
before measuring, so "cold" is what someone finds once the warm-up is done. Each row also prints the
CPU time per request of the bench's own process (client and Slack stand-in), of the bot process and
of its answer workers.

The first row is the baseline, measured in the same run: `/revbot help` from 50 different people
at once, the whole path with no data read; "x base" is a row's answer p95 over the baseline's.

Rows per command:
- rep:   every request from the same demo rep (rep scope);
- org:   every request from the same demo exec (org scope);
- reps:  each request from a different rep, round robin over every rep in the database: the
         realistic burst (identical requests from one person share one computation, see
         `bot.dispatch.dispatch`, so the first two rows mostly measure that and HTTP).

    python bench/command_bench.py --db /tmp/revbot-bench-1m.db --requests 50 --concurrency 50
    python bench/command_bench.py ... --in-process   # the bot inside this process (answer threads)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from storage.config import RevbotConfig  # noqa: E402
from storage.database import make_engine  # noqa: E402
from storage.demo import demo_personas  # noqa: E402
from tests.bot.harness import BOT_TOKEN, SIGNING_SECRET, SlackHarness, start_bot  # noqa: E402
from tests.support.slack_api import SlackApiStandIn  # noqa: E402

COMMANDS = (
    ("/pipeline", ""),
    ("/target", ""),
    ("/forecast", ""),
    ("/deal", "software"),
    ("/account", "holdings"),
    ("/funnel", ""),
    ("/retention", ""),
    ("/renewals", ""),
    ("/revbot", "status"),
)


class RemoteHarness(SlackHarness):
    """The test harness's Slack side, talking to a bot that runs in another process."""

    def __init__(self, api: SlackApiStandIn, base_url: str) -> None:
        super().__init__(api, None, None, base_url)  # type: ignore[arg-type]

    async def settle(self, timeout: float = 10) -> None:
        return None


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_case(harness, api, arrivals, command: str, text: str, emails: list[str], requests: int, concurrency: int):
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    fulls: list[float] = []
    errors = 0

    async def one(index: int) -> None:
        nonlocal errors
        async with gate:
            started = time.perf_counter()
            key, ack = await harness.send_command(command, text, user=emails[index % len(emails)])
            acks.append(ack.seconds)
            if ack.status != 200:
                errors += 1
                return
            await api.wait_for_response(key, timeout=120)
            fulls.append(arrivals[key] - started)
            if api.responses_for(key)[0].get("text", "").startswith("Something went wrong"):
                errors += 1

    await asyncio.gather(*(one(i) for i in range(requests)))
    return acks, fulls, errors


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bot_cpu_seconds(pid: int | None) -> tuple[float, float]:
    """CPU of the bot process and of its answer workers (its children)."""
    if pid is None:
        return 0.0, 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid), sum(cpu_seconds(int(child)) for child in children)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def private_memory_mib(pid: int) -> float:
    """Memory a process has to itself (RssAnon: not the database file's memory-mapped pages)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_bot_process(
    api: SlackApiStandIn, db: str, processes: int, *, wait_for_people: bool = True
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api.api_url,
        "REVBOT_CONFIG": "/nonexistent/revbot.toml",
        "REVBOT_ANSWER_PROCESSES": str(processes),
    }
    bot = subprocess.Popen(
        [str(Path(sys.executable).with_name("revbot")), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if bot.poll() is not None:
                raise SystemExit(f"revbot serve exited with {bot.returncode}")
            try:
                async with http.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        else:
            bot.terminate()
            raise SystemExit("revbot serve did not start within 120 s")
        # The workers compute the org-wide numbers when they start (`bot.org_warm_up`), as they do
        # after every sync: measure what execs see once that is done, and say how long it took.
        started = time.monotonic()
        while time.monotonic() < started + 600:
            async with http.get(f"{base_url}/healthz") as response:
                health = await response.json()
                if health["org_numbers_warm"] and (health["people_numbers_warm"] or not wait_for_people):
                    took = time.monotonic() - started
                    which = "org-wide and people's numbers" if wait_for_people else "org-wide numbers (not people's)"
                    print(f"{which} warm {took:.1f} s after the bot started serving")
                    children = Path(f"/proc/{bot.pid}/task/{bot.pid}/children").read_text().split()
                    memory = ", ".join(f"{private_memory_mib(int(child)):,.0f}" for child in children)
                    print(f"private memory (MiB): bot {private_memory_mib(bot.pid):,.0f}, answer workers {memory}")
                    return bot, base_url
            await asyncio.sleep(0.5)
    bot.terminate()
    raise SystemExit("the answer workers did not warm the org-wide numbers within 600 s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/revbot-bench-1m.db")
    parser.add_argument("--requests", type=int, default=50, help="requests per command and row")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", nargs="*", help="commands to run, e.g. /pipeline /revbot (default: all)")
    parser.add_argument("--rows", nargs="*", default=["rep", "org", "reps"], help="rows to run: rep org reps")
    parser.add_argument("--in-process", action="store_true", help="run the bot in this process (answer threads)")
    parser.add_argument("--answer-processes", type=int, default=2, help="REVBOT_ANSWER_PROCESSES of the bot")
    parser.add_argument(
        "--during-people-warm-up",
        action="store_true",
        help="measure as soon as the org-wide numbers are warm, while the workers still compute people's",
    )
    args = parser.parse_args()
    if not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist: build it with `python bench/demo_bench.py` first")
    with sqlite3.connect(args.db) as db:
        deals = db.execute("select count(*) from deals").fetchone()[0]
        reps = [row[0] for row in db.execute("select email from users where role = 'rep' order by id")]

    api = SlackApiStandIn()
    arrivals: dict[str, float] = {}
    original = api._respond

    async def timed_respond(request: web.Request) -> web.Response:
        arrivals[request.match_info["key"]] = time.perf_counter()
        return await original(request)

    api._respond = timed_respond  # type: ignore[method-assign]
    await api.start()
    bot_process, runner = None, None
    if args.in_process:
        url = f"sqlite:///{args.db}"
        harness, runner = await start_bot(api, make_engine(url), RevbotConfig(), url)
        where = "in this process, answers in threads"
    else:
        bot_process, base_url = await start_bot_process(
            api, args.db, args.answer_processes, wait_for_people=not args.during_people_warm_up
        )
        harness = RemoteHarness(api, base_url)
        where = f"its own process (revbot serve, {args.answer_processes} answer processes)"
    personas = demo_personas()
    row_people = {"rep": [personas["rep"]], "org": [personas["exec"]], "reps": reps}
    try:
        async with harness:
            print(f"database: {args.db} ({deals:,} deals); bot in {where}")
            print(f"{args.requests} requests per row, {args.concurrency} at a time")
            # Warm the bot process first (connections, thread pools, bolt's first-request set-up), so the
            # first row is not the only one that pays for them: a burst of help requests from everyone.
            everyone = [personas["rep"], personas["exec"], *reps]
            await run_case(harness, api, arrivals, "/revbot", "help", everyone, args.concurrency, args.concurrency)
            heading = f"{'command':<19}{'row':<5}{'ack p50':>9}{'p95':>8}{'p99':>8}{'answer p50':>12}{'p95':>8}"
            print(f"{heading}{'x base':>7}{'cold':>8}{'errors':>8}   CPU ms/req: bench bot workers")
            bot_pid = bot_process.pid if bot_process is not None else None

            async def row_of(command: str, text: str, row: str, people: list[str], baseline: float | None) -> float:
                # warm caches; the slowest of these is the first, uncached answer ("cold")
                _, warm_fulls, _ = await run_case(harness, api, arrivals, command, text, people, 5, 5)
                # This process (the client and the Slack stand-in, which keeps every call it saw)
                # grows through the run; a full collection of it mid-row paused every request in
                # flight by up to 185 ms, counted as the bot's. Collect between rows instead.
                gc.collect()
                gc.freeze()
                cpu_before = (time.process_time(), *bot_cpu_seconds(bot_pid))
                acks, fulls, errors = await run_case(
                    harness, api, arrivals, command, text, people, args.requests, args.concurrency
                )
                cpu_after = (time.process_time(), *bot_cpu_seconds(bot_pid))
                spent = zip(cpu_before, cpu_after, strict=True)
                cpu_ms = [1000 * (after - before) / args.requests for before, after in spent]
                ms = [1000 * v for v in acks]
                full_ms = [1000 * v for v in fulls] or [float("nan")]
                p95 = percentile(full_ms, 95)
                ratio = f"{p95 / baseline:>6.1f}x" if baseline else f"{'':>7}"
                print(
                    f"{(command + ' ' + text).strip():<19}{row:<5}{statistics.median(ms):>8.0f}m"
                    f"{percentile(ms, 95):>7.0f}m{percentile(ms, 99):>7.0f}m"
                    f"{statistics.median(full_ms):>11.0f}m{p95:>7.0f}m{ratio}"
                    f"{1000 * max(warm_fulls, default=float('nan')):>7.0f}m{errors:>8}"
                    f"   {cpu_ms[0]:5.1f} {cpu_ms[1]:5.1f} {cpu_ms[2]:5.1f}",
                    flush=True,
                )
                return p95

            # The baseline, measured in the same run: `/revbot help` from 50 different people at once
            # (the whole path — signature, ack, worker, audit row, reply — with no data read), so a
            # row's "x base" says what its data costs on top, whatever the machine's speed today.
            baseline = await row_of("/revbot", "help", "base", reps, None)
            for command, text in [c for c in COMMANDS if not args.only or c[0] in args.only]:
                for row in args.rows:
                    await row_of(command, text, row, row_people[row], baseline)
    finally:
        if runner is not None:
            await runner.cleanup()
        if bot_process is not None:
            bot_process.terminate()
            bot_process.wait(timeout=30)
        await api.stop()


if __name__ == "__main__":
    asyncio.run(main())
