"""Shared numbers: identical questions asked at the same time compute once, and org-wide answers are
also kept per data version for up to an hour.

Everyone-scope questions (an exec's /pipeline or /target) aggregate every open deal: on 1M deals
the bare SQL GROUP BY alone takes 1.4–2 s on a small machine, above the 1 s goal, and 50 execs
asking at once would each pay it. So the computed numbers are kept per database (engine), question
(command, period, day) and data version — the newest successful `sync_runs` row, which every import,
CRM sync and demo seed writes, and which the reply's "data as of …" footer shows — for `TTL_SECONDS`.
Concurrent identical questions wait for the first one instead of all computing (single flight).

Everyone-scope answers are kept when computing them took at least `MIN_COMPUTE_SECONDS` (small
databases are always computed fresh). The answer workers' `bot.org_warm_up` computes them ahead of
the first exec after each sync, and again (`recomputing()`) before they expire, so execs find them
kept. A deal edited in the database behind revbot's back (not through a sync) shows up in kept
answers (these, and the people's below) after at most the TTL.

Any other scope (a rep's book, a team) is kept only when the people warm-up computed it
(`warming()`, `bot.people_warm_up`; one data version at a time, `forget_scoped_numbers`): after
each sync every rep's and manager's default questions are computed ahead, so a Monday-morning burst
of fifty different reps is answered from memory. A question the warm-up did not ask (another
period, another person's book) is computed when asked and not kept, but identical questions about
the same scope that arrive while one is being computed wait for it and share its numbers (a team
channel where everyone runs `/pipeline team emea` after the forecast call costs one computation,
not ten). Each asker still gets their own reply, access check and audit row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine

from commands.registry import CommandContext

# An hour: data changes come with syncs (a new data version), and the warm-up refreshes before this.
TTL_SECONDS = 3600.0
MIN_COMPUTE_SECONDS = 0.2
_MAX_ENTRIES = 64
# People's numbers the warm-up computed: ~7 keys for each rep and manager (a 1,000-rep org is ~8,000
# entries of a few kB each); the bound only matters for an org far bigger than that.
_MAX_SCOPED_ENTRIES = 50_000

T = TypeVar("T")



class KeptPerDatabase:
    """Values kept per database (engine) and key for `ttl` seconds, at most `max_entries` a
    database (those that expire soonest go first). A new engine (a restart, each test's own
    database) starts empty."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._lock = threading.Lock()
        self._entries: WeakKeyDictionary[Engine, dict[Hashable, tuple[float, Any]]] = WeakKeyDictionary()

    def get(self, bind: Engine, key: Hashable) -> Any:
        """The kept value, or None when there is none or it expired."""
        with self._lock:
            hit = self._entries.get(bind, {}).get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, bind: Engine, key: Hashable, value: Any) -> None:
        with self._lock:
            entries = self._entries.setdefault(bind, {})
            if len(entries) >= self.max_entries:
                for stale in sorted(entries, key=lambda k: entries[k][0])[: self.max_entries // 4]:
                    del entries[stale]
            entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_lock = threading.Lock()
_kept = KeptPerDatabase(TTL_SECONDS, _MAX_ENTRIES)
_kept_for_scopes = KeptPerDatabase(TTL_SECONDS, _MAX_SCOPED_ENTRIES)
_flights: dict[tuple[int, Hashable], threading.Lock] = {}
_running: dict[Hashable, Future[Any]] = {}
_recomputing: ContextVar[bool] = ContextVar("recomputing", default=False)
_warming: ContextVar[bool] = ContextVar("warming", default=False)


@contextmanager
def recomputing() -> Iterator[None]:
    """Within this block, everyone-scope numbers (and `stage_medians`) are computed afresh and
    replace what is kept, instead of being read from it: the warm-up's refresh."""
    token = _recomputing.set(True)
    try:
        yield
    finally:
        _recomputing.reset(token)


def is_recomputing() -> bool:
    return _recomputing.get()


@contextmanager
def warming() -> Iterator[None]:
    """Within this block, numbers about any scope (a rep's book, a team) are computed afresh and kept
    per data version, as everyone-scope numbers always are: the people warm-up."""
    token = _warming.set(True)
    try:
        yield
    finally:
        _warming.reset(token)


def shared_numbers(ctx: CommandContext, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, shared with identical questions about the same scope: kept per data version for
    everyone-scope questions, shared while in flight for any other (see the module docstring).
    The value is shared: callers must not modify it."""
    bind = ctx.session.get_bind()
    if not isinstance(bind, Engine):
        return compute()
    if not ctx.scope.is_everyone:
        return _scoped(ctx, bind, key, compute)
    version = ctx.data_version
    full_key = (key, ctx.today, version, id(ctx.config))
    fresh = _recomputing.get()
    found = None if fresh else _kept.get(bind, full_key)
    if found is not None:
        return found
    with _lock:
        flight = _flights.setdefault((id(bind), full_key), threading.Lock())
    with flight:  # the first caller computes; the others wait here, then find its value
        found = None if fresh else _kept.get(bind, full_key)
        if found is not None:
            return found
        started = time.monotonic()
        value = compute()
        if time.monotonic() - started >= MIN_COMPUTE_SECONDS:
            _kept.put(bind, full_key, value)
    with _lock:
        _flights.pop((id(bind), full_key), None)
    return value


def kept_for_scope(ctx: CommandContext, key: Hashable) -> Any:
    """What the people warm-up kept under `key` for this (not everyone) scope and data version, or
    None: never computed here."""
    bind = ctx.session.get_bind()
    if ctx.scope.is_everyone or not isinstance(bind, Engine):
        return None
    return _kept_for_scopes.get(bind, _scoped_key(ctx, key))


def _scoped_key(ctx: CommandContext, key: Hashable) -> Hashable:
    return (key, ctx.today, ctx.data_version, id(ctx.config), ctx.scope)


def _scoped(ctx: CommandContext, bind: Engine, key: Hashable, compute: Callable[[], T]) -> T:
    """A rep's or a team's numbers: what the warm-up kept for this data version, else computed
    (shared with identical questions in flight), and kept only when the warm-up is computing."""
    kept_key = _scoped_key(ctx, key)
    warming_now = _warming.get()
    if not warming_now:
        found = _kept_for_scopes.get(bind, kept_key)
        if found is not None:
            return found
    value = _in_flight_shared((id(bind), key, ctx.today, ctx.scope.owner_ids, id(ctx.config)), compute)
    if warming_now:
        _kept_for_scopes.put(bind, kept_key, value)
    return value


def _in_flight_shared(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, or the result of the identical computation already running (no retention)."""
    with _lock:
        running = _running.get(key)
        if running is None:
            _running[key] = mine = Future()
    if running is not None:
        return running.result()
    try:
        value = compute()
    except BaseException as problem:
        mine.set_exception(problem)
        raise
    else:
        mine.set_result(value)
        return value
    finally:
        with _lock:
            _running.pop(key, None)


def forget_scoped_numbers() -> None:
    """Drop every rep's and team's kept numbers: the warm-up does when the data version or the day
    changes, since none of them can be used again (their keys hold both), so that memory holds one
    data version's worth, not one per sync until the store is full."""
    _kept_for_scopes.clear()


def clear() -> None:
    _kept.clear()
    _kept_for_scopes.clear()
