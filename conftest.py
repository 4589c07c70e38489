"""Fixtures shared by every package's tests: a real broker and real databases.

Kafka: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a Tansu broker started for the session.
PostgreSQL: ``DATABASE_URL`` (a server URL; throwaway databases are created on it) if
set, else the server on 127.0.0.1:5432. Every test that needs a database gets a fresh
one; topic names get a per-session suffix so a shared broker stays clean.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.databases import fresh_postgres_database


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a Kafka-protocol broker for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = TansuBroker(log_dir=tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def topic_suffix() -> str:
    """Appended to topic names so test sessions never share topics."""
    return f"-t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url
