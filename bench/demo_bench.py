"""Benchmark: generate and bulk load the demo org with a million deals into a fresh SQLite file.

    python bench/demo_bench.py [--deals 1000000] [--path /tmp/revbot-bench-1m.db]

Prints the time per phase, rows per second and peak memory. The database is left in place: other
benchmarks use it (DATABASE_URL=sqlite:////tmp/revbot-bench-1m.db).
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.database import make_engine
from storage.demo import seed_demo
from storage.migrate import upgrade
from storage.models import Base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--path", default="/tmp/revbot-bench-1m.db")
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    args = parser.parse_args()

    path = Path(args.path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)

    phase_started: dict[str, float] = {}
    order: list[str] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in phase_started:
            phase_started[phase] = time.perf_counter()
            order.append(phase)

    started = time.perf_counter()
    summary = seed_demo(engine, deals=args.deals, today=args.today, progress=progress)
    elapsed = time.perf_counter() - started
    with Session(engine) as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
    engine.dispose()

    rows = sum(counts.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seed_demo(deals={args.deals:,}) into {path}")
    marks = [*(phase_started[p] for p in order), started + elapsed]
    print("phases: " + ", ".join(f"{p} {marks[i + 1] - marks[i]:.1f}s" for i, p in enumerate(order[:-1])))
    print("rows: " + ", ".join(f"{name} {count:,}" for name, count in counts.items() if count))
    print(f"total {rows:,} rows in {elapsed:.1f}s = {rows / elapsed:,.0f} rows/s; peak memory {peak_mib:,.0f} MiB")
    print(
        f"file size {path.stat().st_size / 2**20:,.0f} MiB; open pipeline {summary.open_pipeline:,.0f} "
        f"{summary.reporting_currency}, ARR {summary.arr:,.0f}"
    )


if __name__ == "__main__":
    main()
