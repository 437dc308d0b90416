"""Engines and sessions. The one place that knows how to reach the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, create_engine, event
from sqlalchemy.exc import OperationalError
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


def cursor_rows(session: Session, stmt: Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
    """A Core statement's rows as the DBAPI cursor returns them (tuples of the driver's values), run
    on the session's connection and transaction: no SQLAlchemy Row per record and no result-type
    processing, which for tens of thousands of rows cost more than the query."""
    result = session.connection().execute(stmt, dict(params or {}))
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


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


@contextmanager
def loading_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a bulk load (the demo seed, a big import). On SQLite it leaves WAL mode for
    the load when it can: WAL writes every page twice (log, then checkpoint), a rollback journal
    only the few pages it changes. The load stays one transaction either way."""
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            yield connection
        return
    engine.dispose()  # leaving WAL needs the only connection to the file
    with engine.connect() as connection:
        try:
            mode = connection.exec_driver_sql("PRAGMA journal_mode=DELETE").scalar()
            connection.commit()
        except OperationalError:  # another process has the file open: stay in WAL, just slower
            connection.rollback()
            mode = "wal"
        try:
            yield connection
        finally:
            if mode == "delete":
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                connection.commit()
