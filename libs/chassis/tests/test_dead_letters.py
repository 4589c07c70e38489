"""Failure policy against the real broker: invalid and failing messages go to the DLQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer

from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.messaging import Consumer, create_broker, ensure_topics
from boxoffice.contracts import Envelope, Message, Topic, dlq_topic
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import create_schema, eventually, make_settings


def _released(reason: str) -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason=reason),
        source="chassis-test",
    )


async def test_invalid_and_failing_messages_are_dead_lettered_and_the_consumer_goes_on(
    sqlite_url: str, kafka_bootstrap: str, topic_suffix: str
) -> None:
    settings = make_settings(sqlite_url, kafka_bootstrap, f"{topic_suffix}-{uuid.uuid4().hex[:6]}")
    topic = settings.topic(Topic.INVENTORY_EVENTS)
    dead_letters = dlq_topic(topic)
    engine = create_engine(sqlite_url)
    tables = await create_schema(engine)
    await ensure_topics(settings, [topic, dead_letters])
    handled: list[str] = []
    attempts_of_poison = 0

    async def handle(envelope: Envelope[Message], _session: object) -> None:
        nonlocal attempts_of_poison
        assert isinstance(envelope.data, SeatsReleased)
        if envelope.data.reason == "poison":
            attempts_of_poison += 1
            raise RuntimeError("this handler always fails for poison")
        handled.append(envelope.data.reason)

    broker = create_broker(settings)
    consumer = Consumer(broker, settings, create_session_factory(engine), Inbox(tables))
    consumer.subscribe(Topic.INVENTORY_EVENTS, handle, group="dlq-test")
    await broker.start()
    poison = _released("poison")
    wrong_schema = json.dumps({**json.loads(_released("x").to_json()), "data": {"nope": 1}})
    unknown_type = json.dumps(
        {**json.loads(_released("x").to_json()), "type": "boxoffice.nobody.Knows.v1"}
    )
    key = b"same-key"  # one partition: the order below is the order consumed
    try:
        await broker.publish(b"\xff\x00 not json", topic, key=key)
        await broker.publish(wrong_schema.encode(), topic, key=key)
        await broker.publish(unknown_type.encode(), topic, key=key)
        await broker.publish(poison.to_json(), topic, key=key)
        await broker.publish(_released("valid").to_json(), topic, key=key)
        await eventually(lambda: handled == ["valid"], within=30, what="valid message handled")
        # consumer_max_attempts tries of its own, plus the failed try of its batch.
        assert (
            settings.consumer_max_attempts
            <= attempts_of_poison
            <= settings.consumer_max_attempts + 1
        )
        assert consumer.stats.dead_lettered == 4
        # What /metrics exposes as boxoffice_dlq_messages_total{topic, reason}.
        assert consumer.stats.dead_letters == {(topic, "invalid"): 3, (topic, "failed"): 1}
    finally:
        await broker.stop()
        await engine.dispose()

    reader = AIOKafkaConsumer(
        dead_letters,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"dlq-reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    try:
        records: list[Any] = []
        async with asyncio.timeout(30):
            while len(records) < 4:
                batch = await reader.getmany(timeout_ms=500)
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await reader.stop()
    by_reason: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
    for record in records:
        headers = {name: value.decode() for name, value in record.headers}
        by_reason.setdefault(headers["x-dlq-reason"], []).append((record.value, headers))
    assert len(by_reason["invalid"]) == 3
    assert {body for body, _ in by_reason["invalid"]} == {
        b"\xff\x00 not json",
        wrong_schema.encode(),
        unknown_type.encode(),
    }
    [(body, headers)] = by_reason["failed"]
    assert body == poison.to_json()
    assert headers["x-dlq-error-type"] == "RuntimeError"
    assert "always fails" in headers["x-dlq-error"]
    assert headers["x-dlq-attempts"] == str(settings.consumer_max_attempts)
    assert headers["x-dlq-original-topic"] == topic
