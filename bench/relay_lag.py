"""Relay lag: time from an outbox commit to the message arriving at a consumer.

Measures the lag of probe messages committed one at a time (waiting for each), idle and
while a background writer commits other messages at a steady rate, on SQLite and
PostgreSQL, against a Tansu broker started here (or ``KAFKA_BOOTSTRAP_SERVERS``). The
relay runs with the service default fallback poll: what makes it publish at once is the
commit's wake-up. Run: ``make bench-relay`` (``--messages 200 --load 500``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from boxoffice.chassis.db import create_engine, create_session_factory, new_metadata
from boxoffice.chassis.messaging import create_broker, ensure_topics, relay_publisher
from boxoffice.chassis.outbox import Outbox, OutboxRelay
from boxoffice.chassis.settings import Environment, ServiceSettings
from boxoffice.chassis.tables import define_messaging_tables
from boxoffice.contracts import Envelope, Topic
from boxoffice.contracts.inventory import SeatsReleased
from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.databases import fresh_postgres_database


def _envelope(reason: str) -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason=reason),
        source="bench",
    )


async def measure(
    database_url: str, bootstrap: str, messages: int, *, load_per_second: float = 0.0
) -> list[float]:
    """Commit ``messages`` probes one by one; return each commit→receive lag in ms.

    With ``load_per_second``, a writer commits other messages at that rate meanwhile.
    """
    suffix = f"-bench{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(
        environment=Environment.TEST,
        jwt_secret="bench-secret-long-enough-for-hs256-signing",  # noqa: S106 - not a real secret
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_suffix=suffix,
        kafka_partitions=1,
    )
    topic = settings.topic(Topic.INVENTORY_EVENTS)
    await ensure_topics(settings, [topic])
    metadata = new_metadata()
    tables = define_messaging_tables(metadata)
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = create_session_factory(engine)
    broker = create_broker(settings)
    await broker.start()
    relay = OutboxRelay(
        sessions,
        tables,
        relay_publisher(broker),
        poll_interval=settings.outbox_poll_interval_ms / 1000,
    )
    outbox = Outbox(tables, topic_name=settings.topic, on_commit=relay.wake)
    relay.start()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"lag-{suffix}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    lags: list[float] = []
    stop_loading = asyncio.Event()

    async def load() -> None:
        interval = 1 / load_per_second
        next_at = time.perf_counter()
        while not stop_loading.is_set():
            async with sessions.begin() as session:
                await outbox.add(session, _envelope("load"))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    loader = asyncio.create_task(load()) if load_per_second > 0 else None
    try:
        await relay.wait_until_leader()
        for _ in range(messages):
            probe = _envelope("probe")
            async with sessions.begin() as session:
                await outbox.add(session, probe)
            committed = time.perf_counter()
            wanted = str(probe.id).encode()
            while wanted not in (await consumer.getone()).value:
                pass  # a message of the background writer
            lags.append((time.perf_counter() - committed) * 1000)
    finally:
        stop_loading.set()
        if loader is not None:
            await loader
        await consumer.stop()
        await relay.stop()
        await broker.stop()
        await engine.dispose()
    return lags


def _report(name: str, lags: list[float]) -> None:
    ordered = sorted(lags)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{name:<26} n={len(lags):<5} p50={p50:6.1f} ms  p99={p99:6.1f} ms  max={max(lags):6.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--load", type=float, default=500.0, help="background commits/s")
    args = parser.parse_args()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with tempfile.TemporaryDirectory() as tmp:
        broker = None if external else TansuBroker(log_dir=tmp).start()
        bootstrap = external or (broker.bootstrap_servers if broker else "")
        try:
            for load in (0.0, args.load):
                label = "idle" if load == 0 else f"{load:.0f}/s load"
                sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / f'lag-{load:.0f}.db'}"
                sqlite = await measure(sqlite_url, bootstrap, args.messages, load_per_second=load)
                _report(f"sqlite {label}", sqlite)
                async with fresh_postgres_database("boxoffice_bench") as url:
                    postgres = await measure(url, bootstrap, args.messages, load_per_second=load)
                _report(f"postgresql {label}", postgres)
        finally:
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
