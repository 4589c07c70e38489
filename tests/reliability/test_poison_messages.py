"""Scenario 4: garbage bytes, wrong-schema JSON and unknown message types on every
consumed topic all end on the DLQs, and every consumer keeps going."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from boxoffice.contracts import dlq_topic
from boxoffice.devstack.stack import Stack, eventually

# Every topic some service consumes, and which service.
CONSUMED = {
    "inventory.commands": "inventory",
    "inventory.events": "reservations",
    "notifications.events": "reservations",
    "payments.events": "reservations",
    "reservations.commands": "reservations",
    "notifications.commands": "notifications",
}


def _poison(topic: str) -> list[bytes]:
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "mallory",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
    }
    return [
        b"\x00\xffnot json at all",
        json.dumps(
            {**envelope, "type": "boxoffice.inventory.HoldSeats.v1", "data": {"x": 1}}
        ).encode(),
        json.dumps(
            {**envelope, "id": str(uuid.uuid4()), "type": f"{topic}.Nobody.v9", "data": {}}
        ).encode(),
    ]


async def _dead_letters(bootstrap: str, topics: list[str], expected: int) -> Counter[str]:
    reader = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"dlq-check-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    found: Counter[str] = Counter()
    try:
        async with asyncio.timeout(60):
            while sum(found.values()) < expected:
                for partition, records in (await reader.getmany(timeout_ms=500)).items():
                    found[partition.topic] += len(records)
    finally:
        await reader.stop()
    return found


async def test_poison_on_every_topic_is_dead_lettered_and_the_system_goes_on(
    system: Stack,
) -> None:
    suffix = system.topic_suffix
    producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
    await producer.start()
    try:
        for topic in CONSUMED:
            for body in _poison(topic):
                await producer.send_and_wait(f"{topic}{suffix}", body, key=b"poison")
    finally:
        await producer.stop()

    dlqs = [dlq_topic(f"{topic}{suffix}") for topic in CONSUMED]
    found = await _dead_letters(system.bootstrap, dlqs, expected=3 * len(CONSUMED))
    assert found == Counter(dict.fromkeys(dlqs, 3))

    # The consumers went on: a reservation still goes through the whole saga.
    starts = datetime.now(UTC) + timedelta(days=5)
    async with httpx.AsyncClient(timeout=15) as client:
        event = await client.post(
            f"{system.url('inventory')}/v1/events",
            json={
                "slug": "after-poison",
                "name": "After poison",
                "currency": "EUR",
                "timezone": "Europe/Madrid",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "capacity": 10,
                "categories": [
                    {"name": "Seat", "visibility": "public", "price": "0.00", "max_seats": None}
                ],
            },
            headers=system.headers(),
        )
        assert event.status_code == 201, event.text
        category_id = event.json()["categories"][0]["id"]

        async def created() -> httpx.Response | None:
            response = await client.post(
                f"{system.url('reservations')}/v1/events/after-poison/reservations",
                json={
                    "contact": {"first_name": "Al", "last_name": "Ive", "email": "al@example.org"},
                    "items": [
                        {
                            "category": {"id": category_id},
                            "attendees": [
                                {"first_name": "Al", "last_name": "Ive", "email": "al@example.org"}
                            ],
                        }
                    ],
                },
                headers=system.headers(),
            )
            return response if response.status_code == 201 else None

        reservation: httpx.Response = await eventually(created, within=30, what="a reservation")
        reservation_id = reservation.json()["id"]
        completed = await client.post(
            f"{system.url('reservations')}/v1/reservations/{reservation_id}/complete",
            headers=system.headers(),
        )
        assert completed.status_code == 200, completed.text
        sent = await client.post(
            f"{system.url('reservations')}/v1/reservations/{reservation_id}/send-tickets",
            json={},
            headers=system.headers(),
        )
        assert sent.status_code == 200, sent.text
    mail = system.mail
    assert mail is not None
    await eventually(lambda: len(mail.messages()) == 1, within=30, what="the ticket mail")
