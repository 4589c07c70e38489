"""Two replicas: the answer to a hold is consumed by the one that did not send it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from boxoffice.reservations.app import create_app
from boxoffice.reservations.waiting import outcome_listener
from services.reservations.tests.support import (
    Harness,
    auth,
    eventually,
    example_2_body,
    make_settings,
)


@pytest.fixture
async def other_replica(harness: Harness) -> AsyncIterator[Harness]:
    """A second app on the same database (its own process state, its own wake-ups)."""
    settings = harness.context.settings
    app = create_app(make_settings(settings.database_url), clock=harness.clock)
    replica = Harness(app, harness.clock)
    try:
        yield replica
    finally:
        await replica.client.aclose()
        await replica.runtime.engine.dispose()


async def _create_answered_by(harness: Harness, other_replica: Harness) -> int:
    seed = await harness.seed_event()
    request = asyncio.create_task(
        harness.client.post(
            f"/v1/events/{seed.slug}/reservations", json=example_2_body(seed), headers=auth()
        )
    )

    async def hold_sent() -> bool:
        return len(await harness.hold_commands()) == 1

    await eventually(hold_sent, what="HoldSeats in the outbox")
    [hold] = await harness.hold_commands()
    await other_replica.answer(hold, "hold")
    response = await asyncio.wait_for(request, timeout=10)
    return response.status_code


async def test_the_waiting_request_sees_an_answer_consumed_elsewhere(
    harness: Harness, other_replica: Harness
) -> None:
    harness.context.settings.outcome_poll_seconds = 0.05

    assert await _create_answered_by(harness, other_replica) == 201


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_notifies_the_waiting_replica(
    harness: Harness, other_replica: Harness
) -> None:
    # LISTEN/NOTIFY is PostgreSQL's; SQLite replicas rely on the poll (test above).
    assert harness.runtime.engine.dialect.name == "postgresql"
    harness.context.settings.outcome_poll_seconds = 60.0  # only the notification can wake it
    listener = asyncio.create_task(
        outcome_listener(harness.runtime.engine, harness.context.signals)()
    )
    try:

        async def listening() -> bool:
            async with harness.runtime.sessions() as session:
                found = await session.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
                )
            return bool(found)

        await eventually(listening, what="the listener listens")
        started = time.monotonic()
        assert await _create_answered_by(harness, other_replica) == 201
        assert time.monotonic() - started < 5  # woken, not timed out (create waits 10 s)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
