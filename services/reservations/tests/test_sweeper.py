"""The expiry sweeper: the only authority on expiry, safe with several replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from boxoffice.contracts import ReleaseSeats, ReservationExpired
from boxoffice.reservations import repository
from boxoffice.reservations.sweeper import expiry_sweeper, sweep_once
from services.reservations.tests.support import (
    Harness,
    SeedEvent,
    auth,
    eventually,
    example_1_body,
    example_2_body,
)


async def _create(harness: Harness, seed: SeedEvent, body: dict[str, Any]) -> str:
    response = await harness.create(seed, body)
    assert response.status_code == 201, response.text
    reservation_id: str = response.json()["id"]
    return reservation_id


async def _status(harness: Harness, reservation_id: str) -> str:
    response = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    status: str = response.json()["status"]
    return status


async def test_overdue_reservations_expire_and_release_their_seats(harness: Harness) -> None:
    seed = await harness.seed_event()
    soon = await _create(
        harness, seed, {**example_1_body(seed), "expires_at": "2030-03-10T17:00:00+01:00"}
    )
    later = await _create(harness, seed, example_2_body(seed))
    completed = await _create(
        harness, seed, {**example_2_body(seed), "expires_at": "2030-03-10T17:00:00+01:00"}
    )
    await harness.client.post(f"/v1/reservations/{completed}/complete", headers=auth())
    harness.clock.advance(timedelta(hours=2))

    expired = await sweep_once(harness.runtime.sessions, harness.context.service)
    again = await sweep_once(harness.runtime.sessions, harness.context.service)

    assert (expired, again) == (1, 0)
    assert await _status(harness, soon) == "EXPIRED"
    assert await _status(harness, later) == "PENDING"
    assert await _status(harness, completed) == "COMPLETE"
    [release] = await harness.messages(ReleaseSeats)
    assert isinstance(release, ReleaseSeats)
    assert (str(release.reservation_id), release.reason) == (soon, "expired")
    assert release.event_id == seed.event_id
    assert len(await harness.messages(ReservationExpired)) == 1
    fetched = await harness.client.get(f"/v1/reservations/{soon}", headers=auth())
    assert {t["status"] for t in fetched.json()["tickets"]} == {"RELEASED"}
    audit = await harness.client.get(f"/v1/reservations/{soon}/audit", headers=auth())
    assert audit.json()[-1]["actor"] == "system"
    assert audit.json()[-1]["action"] == "expired"


async def test_concurrent_sweepers_expire_each_reservation_once(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = [await _create(harness, seed, example_2_body(seed)) for _ in range(6)]
    harness.clock.advance(timedelta(days=2))
    sweep = harness.context.service

    counts = await asyncio.gather(
        sweep_once(harness.runtime.sessions, sweep),
        sweep_once(harness.runtime.sessions, sweep),
        sweep_once(harness.runtime.sessions, sweep),
    )

    assert sum(counts) == 6
    releases = await harness.messages(ReleaseSeats)
    assert sorted(str(m.reservation_id) for m in releases if isinstance(m, ReleaseSeats)) == sorted(
        created
    )


async def test_the_background_sweeper_expires_without_being_asked(harness: Harness) -> None:
    seed = await harness.seed_event()
    reservation_id = await _create(harness, seed, example_2_body(seed))
    harness.clock.advance(timedelta(days=2))
    task = asyncio.create_task(
        expiry_sweeper(
            harness.runtime.sessions, harness.context.service, interval=0.01, batch_size=10
        )()
    )
    try:

        async def expired() -> bool:
            async with harness.runtime.sessions() as session:
                status = await repository.reservation_status(session, uuid.UUID(reservation_id))
            return status == "EXPIRED"

        await eventually(expired, what="the reservation expired")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
