"""Fixtures of the reservations tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.reservations.app import MIGRATIONS, create_app
from services.reservations.tests.support import Clock, Harness, make_settings


@pytest.fixture
def clock() -> Clock:
    """The fixed, hand-moved clock of the in-process app."""
    return Clock()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Settings a test module changes (override the fixture)."""
    return {}


@pytest.fixture
async def harness(
    database_url: str, clock: Clock, settings_overrides: dict[str, object]
) -> AsyncIterator[Harness]:
    """A migrated reservations app on a fresh database (SQLite and PostgreSQL)."""
    app = create_app(make_settings(database_url, **settings_overrides), clock=clock)
    harness = Harness(app, clock)
    await upgrade_to_head(harness.runtime.engine, MIGRATIONS)
    try:
        yield harness
    finally:
        await harness.client.aclose()
        await harness.runtime.engine.dispose()
