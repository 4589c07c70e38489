"""Reservations with two replicas behind different ports, on the real system."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxoffice.devstack.databases import fresh_postgres_database
from boxoffice.devstack.stack import SERVICES, Stack, eventually


@pytest.fixture
async def two_replicas(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """The system with two reservations replicas sharing one database."""
    async with AsyncExitStack() as databases:
        urls = {
            name: await databases.enter_async_context(fresh_postgres_database())
            for name in SERVICES
        }
        system = Stack(
            bootstrap=kafka_bootstrap,
            database_urls=urls,
            workdir=tmp_path,
            replicas={"reservations": 2},
        )
        try:
            await system.start()
            yield system
        finally:
            system.stop()


async def _event(client: httpx.AsyncClient, stack: Stack, slug: str, capacity: int) -> str:
    starts = datetime.now(UTC) + timedelta(days=20)
    response = await client.post(
        f"{stack.url('inventory')}/v1/events",
        json={
            "slug": slug,
            "name": slug,
            "currency": "EUR",
            "timezone": "Europe/Rome",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=8)).isoformat(),
            "capacity": capacity,
            "categories": [
                {"name": "Standard", "visibility": "public", "price": "10.00", "max_seats": None}
            ],
        },
        headers=stack.headers(),
    )
    assert response.status_code == 201, response.text
    category_id: str = response.json()["categories"][0]["id"]
    return category_id


async def _available(client: httpx.AsyncClient, stack: Stack, slug: str) -> int:
    response = await client.get(
        f"{stack.url('inventory')}/v1/events/{slug}", headers=stack.headers()
    )
    available: int = response.json()["categories"][0]["available"]
    return available


def _body(category_id: str, seats: int, **extra: Any) -> dict[str, Any]:
    return {
        "contact": {"first_name": "Max", "last_name": "Muster", "email": "max@example.org"},
        "items": [{"category": {"id": category_id}, "empty_seats": seats}],
        **extra,
    }


async def _replicated(client: httpx.AsyncClient, stack: Stack, slug: str) -> None:
    """Wait until both replicas know the event (a GET of its reservation list answers)."""
    for replica in range(2):
        url = f"{stack.url('reservations', replica)}/v1/events/{slug}/reservations"

        async def known(url: str = url) -> bool:
            return (await client.get(url, headers=stack.headers())).status_code == 200

        await eventually(known, within=30, what=f"replica {replica} knows {slug}")


async def test_concurrent_creates_over_two_replicas_all_settle(two_replicas: Stack) -> None:
    stack = two_replicas
    async with httpx.AsyncClient(timeout=30.0) as client:
        category_id = await _event(client, stack, "crowded", capacity=60)
        await _replicated(client, stack, "crowded")

        async def create(index: int) -> httpx.Response:
            url = f"{stack.url('reservations', index % 2)}/v1/events/crowded/reservations"
            return await client.post(url, json=_body(category_id, 1), headers=stack.headers())

        answers = await asyncio.gather(*(create(index) for index in range(100)))
        statuses = Counter(answer.status_code for answer in answers)
        assert set(statuses) <= {201, 409}, (
            f"{statuses}: {[a.text for a in answers if a.status_code not in (201, 409)][:3]}"
        )
        assert statuses[201] == 60
        assert statuses[409] == 40
        assert await _available(client, stack, "crowded") == 0
        listed = await client.get(
            f"{stack.url('reservations', 0)}/v1/events/crowded/reservations",
            params={"status": "PENDING"},
            headers=stack.headers(),
        )
        assert listed.status_code == 200
        body = listed.json()
        total = body["total"] if isinstance(body, dict) and "total" in body else len(body["items"])
        assert total == 60


async def test_a_reservation_expires_on_time_once_with_two_replicas(two_replicas: Stack) -> None:
    stack = two_replicas
    async with httpx.AsyncClient(timeout=30.0) as client:
        category_id = await _event(client, stack, "short-lived", capacity=10)
        await _replicated(client, stack, "short-lived")
        expires_at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        created = await client.post(
            f"{stack.url('reservations', 0)}/v1/events/short-lived/reservations",
            json=_body(category_id, 4, expires_at=expires_at.isoformat()),
            headers=stack.headers(),
        )
        assert created.status_code == 201, created.text
        reservation = created.json()
        assert await _available(client, stack, "short-lived") == 6

        async def expired() -> bool:
            response = await client.get(
                f"{stack.url('reservations', 1)}/v1/reservations/{reservation['id']}",
                headers=stack.headers(),
            )
            return bool(response.json()["status"] == "EXPIRED")

        await eventually(expired, within=(expires_at - datetime.now(UTC)).total_seconds() + 5)

        async def seats_back() -> bool:
            return await _available(client, stack, "short-lived") == 10

        await eventually(seats_back, within=5, what="seats released")
        audit = await client.get(
            f"{stack.url('reservations', 0)}/v1/reservations/{reservation['id']}/audit",
            headers=stack.headers(),
        )
        expiries = [entry for entry in audit.json() if entry["action"] == "expired"]
        assert len(expiries) == 1, audit.text
