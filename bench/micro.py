"""``python -m bench.micro``: CPU of the reservations hot path, in one process, no broker.

Times, on a fresh PostgreSQL database, the pieces a backoffice create costs the
reservations service: the HTTP call through the ASGI app (routing, validation, the
create transaction, the answer), the create transaction alone, and the consumer
applying ``SeatsHeld`` answers in batches. Prints CPU microseconds per create (this
process only; PostgreSQL's own CPU is not counted). Steadier than the whole-system
profile (``bench.profile``) for comparing two versions of the code, though on a
shared virtual machine runs still differ by 10-20 %: compare several runs.

No relay runs here, so each create also sends the PostgreSQL NOTIFY that wakes a
relay leading in another process (in a service whose own relay leads, it does not).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from boxoffice.chassis.auth import Principal
from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.devstack.databases import fresh_postgres_database
from boxoffice.reservations.app import MIGRATIONS, create_app
from boxoffice.reservations.schemas import CreateReservationRequest
from services.reservations.tests.support import (
    ORG,
    Clock,
    Harness,
    auth,
    inventory_envelope,
    make_settings,
)

WARM_UP = 50


def body(category_id: uuid.UUID) -> dict[str, Any]:
    return {
        "contact": {"first_name": "Bench", "last_name": "Client", "email": "b@bench.example"},
        "items": [{"category": {"id": str(category_id)}, "empty_seats": 1}],
    }


async def measure(count: int, batch: int) -> None:
    async with fresh_postgres_database("boxoffice_micro") as url:
        app = create_app(make_settings(url), clock=Clock())
        harness = Harness(app, Clock())
        await upgrade_to_head(harness.runtime.engine, MIGRATIONS)
        try:
            seed = await harness.seed_event()
            request = CreateReservationRequest.model_validate(body(seed.general_admission))
            principal = Principal(sub="bench", org=ORG, roles=("organizer",))
            context = harness.context

            async def transaction() -> None:
                async with context.sessions.begin() as session:
                    await context.service.create_reservation(session, principal, seed.slug, request)

            for _ in range(WARM_UP):
                await transaction()
            started = time.process_time()
            for _ in range(count):
                await transaction()
            spent = time.process_time() - started
            print(f"create transaction: {1e6 * spent / count:8.0f} µs CPU per create")

            holds = await harness.hold_commands()
            envelopes = [
                inventory_envelope(await harness.outcome(hold, "hold")) for hold in holds[-count:]
            ]
            started = time.process_time()
            for first in range(0, len(envelopes), batch):
                await harness.deliver_inventory_batch(envelopes[first : first + batch])
            spent = time.process_time() - started
            print(
                f"SeatsHeld applied, batches of {batch}: "
                f"{1e6 * spent / len(envelopes):8.0f} µs CPU per answer"
            )

            headers = auth()
            url = f"/v1/events/{seed.slug}/reservations"
            payload = body(seed.general_admission)
            context.settings.create_wait_seconds = 0  # answer 202 at once: no inventory here
            started = time.process_time()
            for _ in range(count):
                response = await harness.client.post(url, json=payload, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"expected 202, got {response.status_code}: {response.text}")
            spent = time.process_time() - started
            print(
                f"HTTP create through the ASGI app (202): "
                f"{1e6 * spent / count:8.0f} µs CPU per create (httpx's in-process client included)"
            )
        finally:
            await harness.client.aclose()
            await harness.runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(measure(args.count, args.batch))


if __name__ == "__main__":
    main()
