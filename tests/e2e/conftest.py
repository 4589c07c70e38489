"""Fixtures for the cross-service tests: the whole stack as processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from boxoffice.devstack.databases import fresh_postgres_database
from boxoffice.devstack.stack import SERVICES, Stack


@pytest.fixture
async def stack(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """The three services on fresh PostgreSQL databases, one replica each."""
    async with AsyncExitStack() as databases:
        urls = {
            name: await databases.enter_async_context(fresh_postgres_database())
            for name in SERVICES
        }
        system = Stack(bootstrap=kafka_bootstrap, database_urls=urls, workdir=tmp_path)
        try:
            await system.start()
            yield system
        finally:
            system.stop()
