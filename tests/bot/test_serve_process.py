"""`revbot serve` as the platform runs it: its own process with answer workers, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from bot.answer_workers import WORKER_NICENESS
from tests.bot.harness import BOT_TOKEN, SIGNING_SECRET


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, bot: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert bot.poll() is None, f"revbot serve exited with {bot.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError("revbot serve never answered /healthz")


def _serve(database_url: str, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never called: no command is sent
        "REVBOT_CONFIG": str(tmp_path / "none.toml"),
        "REVBOT_ANSWER_PROCESSES": "1",
    }
    revbot = Path(sys.executable).with_name("revbot")
    return subprocess.Popen(
        [str(revbot), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_the_bot_and_its_answer_workers(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    bot = _serve(database_url, port, tmp_path)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", bot)
        workers = psutil.Process(bot.pid).children(recursive=True)
        assert workers, "the answer worker was not started"
        # the answer worker yields the CPU to the acking bot process
        assert psutil.Process(bot.pid).nice() + WORKER_NICENESS in {worker.nice() for worker in workers}
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        if bot.poll() is None:
            bot.kill()


def test_healthz_says_once_the_workers_hold_the_org_wide_and_peoples_numbers(
    database_url: str, org, tmp_path: Path
) -> None:
    port = _free_port()
    bot = _serve(database_url, port, tmp_path)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", bot)
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = json.load(response)
            if (health["org_numbers_warm"] and health["people_numbers_warm"]) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert health["org_numbers_warm"] is True
        assert health["people_numbers_warm"] is True
    finally:
        bot.terminate()
        bot.wait(timeout=30)
