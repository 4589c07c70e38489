"""Scenario 2: the broker frozen (SIGSTOP) for 10 s under load: the HTTP API keeps
answering (202 for creates it cannot settle), and after SIGCONT everything drains to
the right states."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.stack import Stack, eventually
from boxoffice.ops.reconcile import reconcile

CREATES = 30
FREEZE_SECONDS = 10.0


async def test_a_frozen_broker_delays_but_loses_nothing(
    system: Stack, own_broker: TansuBroker
) -> None:
    headers = system.headers()
    starts = datetime.now(UTC) + timedelta(days=3)
    async with httpx.AsyncClient(timeout=30) as client:
        event = await client.post(
            f"{system.url('inventory')}/v1/events",
            json={
                "slug": "frozen",
                "name": "Frozen",
                "currency": "EUR",
                "timezone": "Europe/Oslo",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=4)).isoformat(),
                "capacity": 100,
                "categories": [
                    {"name": "Seat", "visibility": "public", "price": "1.00", "max_seats": None}
                ],
            },
            headers=headers,
        )
        assert event.status_code == 201, event.text
        category_id = event.json()["categories"][0]["id"]
        url = f"{system.url('reservations')}/v1/events/frozen/reservations"
        body: dict[str, Any] = {
            "contact": {"first_name": "Ice", "last_name": "Cold", "email": "ice@example.org"},
            "items": [{"category": {"id": category_id}, "empty_seats": 1}],
        }

        async def replicated() -> bool:
            return (await client.post(url, json=body, headers=headers)).status_code == 201

        await eventually(replicated, within=30, what="event replicated")

        own_broker.suspend()
        frozen_at = time.monotonic()
        try:
            answers = await asyncio.gather(
                *(client.post(url, json=body, headers=headers) for _ in range(CREATES))
            )
            health = await client.get(f"{system.url('reservations')}/health/live")
            # The fault lasts FREEZE_SECONDS, whatever the calls above took.
            await asyncio.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - frozen_at)))
        finally:
            own_broker.resume()
        assert health.status_code == 200
        assert [answer.status_code for answer in answers] == [202] * CREATES
        ids = [answer.json()["id"] for answer in answers]

        async def drained() -> bool:
            for reservation_id in ids:
                response = await client.get(
                    f"{system.url('reservations')}/v1/reservations/{reservation_id}",
                    headers=headers,
                )
                if response.json()["status"] != "PENDING":
                    return False
            return True

        await eventually(drained, within=90, what="every frozen create PENDING")

    report = await reconcile(
        system.database_urls["inventory"], system.database_urls["reservations"], settle=30
    )
    assert report.clean, report.render()
    assert report.reservations_checked == CREATES + 1
