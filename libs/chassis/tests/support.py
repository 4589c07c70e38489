"""Small helpers for the chassis tests: settings, schema, a recording consumer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.chassis.db import new_metadata
from boxoffice.chassis.settings import Environment, ServiceSettings
from boxoffice.chassis.tables import MessagingTables, define_messaging_tables
from boxoffice.devstack.polling import eventually as eventually


def make_settings(database_url: str, bootstrap: str, suffix: str) -> ServiceSettings:
    """Settings for a test consumer/relay with fast broker timings."""
    return ServiceSettings(
        environment=Environment.TEST,
        jwt_secret="chassis-test-secret-of-at-least-32-bytes",
        service_name=f"chassis-test-{uuid.uuid4().hex[:6]}",
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_suffix=suffix,
        kafka_partitions=3,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=600,
        kafka_fetch_max_wait_ms=20,
        consumer_max_attempts=3,
        consumer_retry_backoff_seconds=0.01,
    )


async def create_schema(engine: AsyncEngine) -> MessagingTables:
    """Create the messaging tables directly (the services use migrations)."""
    metadata = new_metadata()
    tables = define_messaging_tables(metadata)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return tables


@dataclass
class Recorder:
    """What a test handler saw, in order."""

    seen: list[tuple[str, str]] = field(default_factory=list)
