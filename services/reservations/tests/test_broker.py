"""Through the real broker: the app's runtime sends HoldSeats, the test plays inventory."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from boxoffice.chassis.clock import utcnow
from boxoffice.contracts import (
    Envelope,
    HeldLine,
    HoldSeats,
    Message,
    SeatsHeld,
    Topic,
    Visibility,
    parse_envelope,
)
from boxoffice.reservations import repository
from boxoffice.reservations.app import create_app
from boxoffice.reservations.settings import Settings
from services.reservations.tests.support import (
    ORG,
    auth,
    category_upserted,
    event_upserted,
    eventually,
    inventory_envelope,
    make_settings,
)


async def _publish(
    producer: AIOKafkaProducer, settings: Settings, envelope: Envelope[Message]
) -> None:
    await producer.send_and_wait(
        settings.topic(envelope.data.topic),
        envelope.to_json(),
        key=envelope.partition_key().encode(),
    )


async def test_a_hold_answered_through_the_broker_gives_201(
    database_url: str, kafka_bootstrap: str, topic_suffix: str
) -> None:
    settings = make_settings(
        database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_suffix=f"{topic_suffix}-r{uuid.uuid4().hex[:8]}",
        # A group of its own: a member of an earlier test's app that has not left yet
        # must not hold this app's first rebalance up.
        kafka_consumer_group_prefix=f"boxoffice-{uuid.uuid4().hex[:8]}",
        kafka_partitions=2,
        create_wait_seconds=60.0,
    )
    app = create_app(settings)
    runtime = app.state.runtime
    event_id, team = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    inventory_commands = AIOKafkaConsumer(
        settings.topic(Topic.INVENTORY_COMMANDS),
        bootstrap_servers=kafka_bootstrap,
        group_id=f"fake-inventory-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=600,
        fetch_max_wait_ms=20,
    )
    async with runtime.lifespan(app):
        await producer.start()
        await inventory_commands.start()
        try:
            await _publish(
                producer,
                settings,
                inventory_envelope(
                    event_upserted(
                        event_id,
                        slug="broker-event",
                        org=ORG,
                        starts_at=now + timedelta(days=30),
                        ends_at=now + timedelta(days=31),
                    )
                ),
            )
            await _publish(
                producer,
                settings,
                inventory_envelope(
                    category_upserted(event_id, team, "Team", 0, 5, visibility=Visibility.HIDDEN)
                ),
            )

            async def replicated() -> bool:
                async with runtime.sessions() as session:
                    return await repository.get_category(session, team) is not None

            await eventually(replicated, within=60, what="the event replicated")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://reservations"
            ) as client:
                request = asyncio.create_task(
                    client.post(
                        "/v1/events/broker-event/reservations",
                        json={
                            "contact": {
                                "first_name": "Olivia",
                                "last_name": "Organizer",
                                "email": "olivia@example.org",
                            },
                            "items": [{"category": {"id": str(team)}, "empty_seats": 2}],
                        },
                        headers=auth(),
                    )
                )
                record = await asyncio.wait_for(inventory_commands.getone(), timeout=60)
                hold = parse_envelope(Topic.INVENTORY_COMMANDS, record.value)
                assert isinstance(hold.data, HoldSeats)
                assert record.key == str(event_id).encode()
                await _publish(
                    producer,
                    settings,
                    Envelope.wrap(
                        SeatsHeld(
                            event_id=event_id,
                            reservation_id=hold.data.reservation_id,
                            currency="EUR",
                            lines=[
                                HeldLine(
                                    line_index=0,
                                    category_id=team,
                                    category_name="Team",
                                    quantity=2,
                                    unit_price_minor=0,
                                )
                            ],
                        ),
                        source="boxoffice.inventory",
                        causationid=hold.id,
                    ),
                )
                response = await asyncio.wait_for(request, timeout=60)
        finally:
            await inventory_commands.stop()
            await producer.stop()

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "PENDING"
    assert response.json()["id"] == str(hold.data.reservation_id)
