"""An outbox relay in its own process, for the fault tests (it gets killed with -9).

``--stall-after N``: once N messages were sent, stall in the middle of a batch: the
messages sent so far in that batch are on the broker but never marked as published,
which is exactly the state a crash between publish and mark leaves behind.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from boxoffice.chassis.db import create_engine, create_session_factory, new_metadata
from boxoffice.chassis.messaging import create_broker, relay_publisher
from boxoffice.chassis.outbox import OutboxRelay, OutgoingMessage
from boxoffice.chassis.settings import Environment, ServiceSettings
from boxoffice.chassis.tables import define_messaging_tables


class StallingPublisher:
    """Wraps the real publish function and stalls mid-batch after ``stall_after`` sends."""

    def __init__(self, publish: Any, stall_after: int | None) -> None:
        self._publish = publish
        self._stall_after = stall_after
        self.sent = 0
        self._batch: list[asyncio.Future[Any]] = []

    def batch_started(self) -> None:
        self._batch = []

    async def __call__(self, message: OutgoingMessage) -> Any:
        if self._stall_after is not None and self.sent >= self._stall_after and self._batch:
            # Make sure what was sent of this batch is on the broker, then never mark it.
            await asyncio.gather(*self._batch)
            print(f"STALLED {self.sent}", flush=True)
            await asyncio.Event().wait()
        future = await self._publish(message)
        self.sent += 1
        self._batch.append(future)
        return future


class ObservedRelay(OutboxRelay):
    """Tells the publisher where each batch starts."""

    def __init__(self, publisher: StallingPublisher, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._publisher = publisher

    async def _send_all(self, messages: Sequence[OutgoingMessage]) -> None:
        self._publisher.batch_started()
        await super()._send_all(messages)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--stall-after", type=int)
    args = parser.parse_args()
    settings = ServiceSettings(
        environment=Environment.TEST,
        jwt_secret="chassis-test-secret-of-at-least-32-bytes",
        service_name="relay-worker",
        database_url=args.database_url,
        kafka_bootstrap_servers=args.bootstrap,
    )
    tables = define_messaging_tables(new_metadata())
    engine = create_engine(settings.database_url)
    broker = create_broker(settings)
    await broker.start()
    publisher = StallingPublisher(relay_publisher(broker), args.stall_after)
    relay = ObservedRelay(
        publisher,
        create_session_factory(engine),
        tables,
        publisher,
        poll_interval=0.01,
        batch_size=50,
        lease_seconds=1.0,
    )
    relay.start()
    await relay.wait_until_leader()
    print("LEADER", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
