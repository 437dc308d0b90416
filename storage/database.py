"""Engines and sessions. The one place that knows how to reach the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.settings import get_settings, normalize_database_url


def make_engine(url: str | None = None, **kwargs: object) -> Engine:
    url = normalize_database_url(url or get_settings().database_url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the bot read while a sync or the scheduler writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: all or nothing."""
    with session_factory(engine)() as session, session.begin():
        yield session


def read_concurrently(
    session: Session, reads: Mapping[str, Callable[[Session], Any]], *, concurrent: bool = True
) -> dict[str, Any]:
    """Independent read-only queries, each on its own connection at the same time (the database
    works while the driver has released the GIL), or one after another on `session` when not
    `concurrent`. Other connections only see committed data: pass `concurrent=False` when `session`
    holds uncommitted writes the reads must see."""
    if not concurrent or len(reads) < 2:
        return {name: read(session) for name, read in reads.items()}
    bind = session.get_bind()

    def on_own_connection(read: Callable[[Session], Any]) -> Any:
        with Session(bind) as own:
            return read(own)

    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="revbot-read") as pool:
        futures = {name: pool.submit(on_own_connection, read) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}
