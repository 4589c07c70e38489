"""Fixtures of the reliability scenarios: the whole stack on a broker of its own.

A scenario may freeze or flood the broker, so each module gets its own Tansu rather
than the session's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.databases import fresh_postgres_database
from boxoffice.devstack.stack import SERVICES, Stack


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A Tansu broker for this module only."""
    broker = TansuBroker(log_dir=tmp_path_factory.mktemp("tansu-reliability")).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def system(own_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Stack]:
    """The three services as processes on fresh PostgreSQL databases."""
    async with AsyncExitStack() as databases:
        urls = {
            name: await databases.enter_async_context(fresh_postgres_database())
            for name in SERVICES
        }
        stack = Stack(bootstrap=own_broker.bootstrap_servers, database_urls=urls, workdir=tmp_path)
        try:
            await stack.start()
            yield stack
        finally:
            stack.stop()
