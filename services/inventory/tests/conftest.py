"""Fixtures of the inventory tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.inventory.app import MIGRATIONS, create_app
from services.inventory.tests.support import InventoryHarness, make_settings


@pytest.fixture
async def inventory(database_url: str, topic_suffix: str) -> AsyncIterator[InventoryHarness]:
    """A migrated inventory app on a fresh database (SQLite and PostgreSQL).

    The invariant is checked after every test that uses it.
    """
    app = create_app(make_settings(database_url, kafka_topic_suffix=topic_suffix))
    harness = InventoryHarness(app)
    await upgrade_to_head(harness.runtime.engine, MIGRATIONS)
    try:
        yield harness
        await harness.assert_invariant()
    finally:
        await harness.client.aclose()
        await harness.runtime.engine.dispose()
