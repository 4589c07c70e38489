"""Async SQLAlchemy engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_AFTER_COMMIT_KEY = "boxoffice_after_commit"
_AT_COMMIT_KEY = "boxoffice_at_commit"
_TRANSACTION_CACHE_KEY = "boxoffice_transaction_cache"

S = TypeVar("S")


def new_metadata() -> MetaData:
    """A MetaData with the project's constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create an async engine tuned for the backend.

    SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``:
    writers queue on the busy timeout instead of failing when a read lock would have
    to be upgraded, which is what makes several processes on one file safe.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            # SQLite creates the file but not its folder (the default lives in .data/).
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pool_pre_ping: it costs a round trip (a whole transaction with asyncpg) on
    # every checkout, doubling the database work of the relay's poll and of every
    # message. Connections are recycled instead, and a dead one fails its transaction,
    # which consumers retry (InfrastructureError) and HTTP clients may retry.
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sync(session: AsyncSession | Session) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def after_commit(session: AsyncSession | Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction has committed.

    Used to wake local waiters (the outbox relay, a waiting HTTP request) without
    ever signalling work that was rolled back.
    """
    callbacks: list[Callable[[], None]] = _sync(session).info.setdefault(_AFTER_COMMIT_KEY, [])
    callbacks.append(callback)


def at_commit(
    session: AsyncSession | Session,
    key: str,
    write: Callable[[Session, S], None],
    state: Callable[[], S],
    *,
    order: int = 0,
) -> S:
    """The state of a once-per-transaction write, created (and ``write`` scheduled) on first use.

    Callers collect what they want written into the returned state (rows, ids...);
    ``write(session, state)`` then runs once, inside the commit, just before the final
    flush: what it executes on the given sync ``Session`` is part of the transaction
    (the commit runs in the session's greenlet, so sync statements are allowed there).
    Writes run by ascending ``order``. A consumer applying a batch of N messages in one
    transaction thus writes its outbox rows with one statement instead of N. A
    rollback drops the state unwritten.
    """
    hooks: dict[str, tuple[int, Callable[[Session, Any], None], Any]] = _sync(
        session
    ).info.setdefault(_AT_COMMIT_KEY, {})
    if key not in hooks:
        hooks[key] = (order, write, state())
    return cast("S", hooks[key][2])


def transaction_cache(session: AsyncSession | Session) -> dict[str, Any]:
    """A dict that lives as long as the session's current transaction.

    For what a transaction may keep once loaded, e.g. rows it locked: dropped when
    the transaction commits or rolls back, so nothing outlives the locks it relies on.
    """
    cache: dict[str, Any] = _sync(session).info.setdefault(_TRANSACTION_CACHE_KEY, {})
    return cache


@event.listens_for(Session, "before_commit")
def _run_at_commit(session: Session) -> None:
    # Lowest order first; a write may add to a later one's state (e.g. rows for the
    # outbox) or schedule a new write: run until none is left.
    hooks: dict[str, tuple[int, Callable[[Session, Any], None], Any]] = session.info.get(
        _AT_COMMIT_KEY, {}
    )
    while hooks:
        _, write, state = hooks.pop(min(hooks, key=lambda key: hooks[key][0]))
        write(session, state)
    session.info.pop(_AT_COMMIT_KEY, None)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    session.info.pop(_TRANSACTION_CACHE_KEY, None)
    for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_TRANSACTION_CACHE_KEY, None)
    session.info.pop(_AFTER_COMMIT_KEY, None)
    session.info.pop(_AT_COMMIT_KEY, None)


def insert_or_ignore(session: AsyncSession, table: Any, values: dict[str, Any]) -> Any:
    """An INSERT that does nothing when the row's key already exists.

    On PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then does nothing: the loser sees ``rowcount == 0``.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    return sqlite.insert(table).values(values).on_conflict_do_nothing()
