"""Relay lag: time from an outbox commit to the message arriving at a consumer.

Measures idle lag (one message at a time, waiting for each) on SQLite and PostgreSQL,
against a Tansu broker started here (or ``KAFKA_BOOTSTRAP_SERVERS``). Run:
``.venv/bin/python bench/relay_lag.py [--messages 200]``.
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


async def measure(database_url: str, bootstrap: str, messages: int) -> list[float]:
    """Commit ``messages`` rows one by one; return each commit→receive lag in ms."""
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
    relay = OutboxRelay(sessions, tables, relay_publisher(broker), poll_interval=0.02)
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
    try:
        await relay.wait_until_leader()
        for _ in range(messages):
            envelope = Envelope.wrap(
                SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason="lag"),
                source="bench",
            )
            async with sessions.begin() as session:
                await outbox.add(session, envelope)
            committed = time.perf_counter()
            record = await consumer.getone()
            lags.append((time.perf_counter() - committed) * 1000)
            if str(envelope.id).encode() not in record.value:
                raise RuntimeError("received another message than the one committed")
    finally:
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
        f"{name:<12} n={len(lags):<5} p50={p50:6.1f} ms  p99={p99:6.1f} ms  max={max(lags):6.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with tempfile.TemporaryDirectory() as tmp:
        broker = None if external else TansuBroker(log_dir=tmp).start()
        bootstrap = external or (broker.bootstrap_servers if broker else "")
        try:
            sqlite = await measure(
                f"sqlite+aiosqlite:///{Path(tmp) / 'lag.db'}", bootstrap, args.messages
            )
            _report("sqlite", sqlite)
            async with fresh_postgres_database("boxoffice_bench") as url:
                postgres = await measure(url, bootstrap, args.messages)
            _report("postgresql", postgres)
        finally:
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
