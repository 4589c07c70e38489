"""Scenario 6: 1,000 reservations (created by another system over Kafka) expiring in
the same second are all EXPIRED, and their seats free in inventory, within 15 s."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from boxoffice.contracts import Envelope
from boxoffice.contracts.common import Channel, Contact
from boxoffice.contracts.reservations import CreateReservation, ReservationItem
from boxoffice.devstack.stack import Stack, eventually

COUNT = 1_000


async def test_a_thousand_reservations_expire_together(system: Stack) -> None:
    headers = system.headers()
    starts = datetime.now(UTC) + timedelta(days=2)
    async with httpx.AsyncClient(timeout=30) as client:
        event = await client.post(
            f"{system.url('inventory')}/v1/events",
            json={
                "slug": "mass-expiry",
                "name": "Mass expiry",
                "currency": "EUR",
                "timezone": "Europe/Lisbon",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=4)).isoformat(),
                "capacity": COUNT,
                "categories": [
                    {"name": "Seat", "visibility": "public", "price": "1.00", "max_seats": None}
                ],
            },
            headers=headers,
        )
        assert event.status_code == 201, event.text
        category_id = uuid.UUID(event.json()["categories"][0]["id"])
        list_url = f"{system.url('reservations')}/v1/events/mass-expiry/reservations"
        await eventually(
            lambda: _status_ok(client, list_url, headers), within=30, what="event replicated"
        )

        expires_at = (datetime.now(UTC) + timedelta(seconds=60)).replace(microsecond=0)
        producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            for _ in range(COUNT):
                reservation_id = uuid.uuid4()
                envelope = Envelope.wrap(
                    CreateReservation(
                        reservation_id=reservation_id,
                        event_slug="mass-expiry",
                        channel=Channel.BACKOFFICE,
                        contact=Contact(first_name="Mass", last_name="Test", email="m@t.example"),
                        items=[ReservationItem(category_id=category_id, empty_seats=1)],
                        expires_at=expires_at,
                    ),
                    source="mass-test",
                )
                await producer.send(
                    f"reservations.commands{system.topic_suffix}",
                    envelope.to_json(),
                    key=str(reservation_id).encode(),
                )
            await producer.flush()
        finally:
            await producer.stop()

        async def counted(status: str) -> int:
            response = await client.get(
                list_url, params={"status": status, "page_size": 1}, headers=headers
            )
            total: int = response.json()["total"]
            return total

        async def all_pending() -> bool:
            return await counted("PENDING") == COUNT

        await eventually(all_pending, within=55, what=f"{COUNT} reservations PENDING")
        assert datetime.now(UTC) < expires_at, "creating took longer than the expiry margin"

        async def seats_free() -> bool:
            inventory = await client.get(
                f"{system.url('inventory')}/v1/events/mass-expiry", headers=headers
            )
            return bool(inventory.json()["categories"][0]["available"] == COUNT)

        async def all_expired_and_free() -> bool:
            return await counted("EXPIRED") == COUNT and await seats_free()

        wait = (expires_at - datetime.now(UTC)).total_seconds()
        started = time.monotonic()
        await eventually(
            all_expired_and_free, within=wait + 15, what="all expired, seats free, within 15 s"
        )
        assert time.monotonic() - started <= wait + 15


async def _status_ok(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> bool:
    return (await client.get(url, headers=headers)).status_code == 200
