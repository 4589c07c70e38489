"""The replica of inventory's events and categories: newest version wins."""

from __future__ import annotations

import uuid

from boxoffice.reservations.models import CategoryReplica, EventReplica
from services.reservations.tests.support import (
    Harness,
    category_upserted,
    event_upserted,
    inventory_envelope,
)


async def test_the_replica_keeps_the_highest_version_and_ignores_stale_ones(
    harness: Harness,
) -> None:
    event_id, category_id = uuid.uuid4(), uuid.uuid4()
    await harness.deliver(inventory_envelope(event_upserted(event_id, slug="v1", version=1)))
    await harness.deliver(
        inventory_envelope(event_upserted(event_id, slug="v3", version=3, name="Renamed"))
    )
    await harness.deliver(inventory_envelope(event_upserted(event_id, slug="v2", version=2)))
    await harness.deliver(
        inventory_envelope(category_upserted(event_id, category_id, "GA", 10000, None, version=2))
    )
    await harness.deliver(
        inventory_envelope(category_upserted(event_id, category_id, "Old", 500, 3, version=1))
    )

    async with harness.runtime.sessions() as session:
        event = await session.get(EventReplica, event_id)
        category = await session.get(CategoryReplica, category_id)
    assert event is not None
    assert (event.slug, event.name, event.version) == ("v3", "Renamed", 3)
    assert category is not None
    assert (category.name, category.price_minor, category.max_seats) == ("GA", 10000, None)


async def test_a_redelivered_message_is_applied_once(harness: Harness) -> None:
    envelope = inventory_envelope(event_upserted(uuid.uuid4(), slug="once"))

    assert await harness.deliver(envelope)
    assert not await harness.deliver(envelope)
