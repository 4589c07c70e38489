"""Scenario 3: every message of a run published a second time (same ids, keys, headers)
changes nothing: no state, no outbox row, no email.

A small but complete workload runs on the process stack (an event, reservations held,
one refused, one cancelled, the rest completed, their tickets and a share link sent by
email). Once everything is settled (every outbox published, every consumer group at the
end of its topic), the state of all three databases and the mail sink is snapshotted.
Then every record of every topic of the run is read from the beginning and published
again to the same topic and partition, with its key, value and headers. When every
consumer group has committed past the copies, the snapshot must be the same.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from boxoffice.contracts import Envelope, Topic, dlq_topic
from boxoffice.contracts.common import Channel, Contact
from boxoffice.contracts.envelope import Message
from boxoffice.contracts.payments import PaymentReceived
from boxoffice.contracts.reservations import CreateReservation, ReservationItem
from boxoffice.devstack.stack import Stack, eventually
from boxoffice.ops.reconcile import reconcile

RESERVATIONS = 8

# Which service consumes which topic (one consumer group per service and topic).
CONSUMERS = {
    Topic.INVENTORY_COMMANDS: "inventory",
    Topic.INVENTORY_EVENTS: "reservations",
    Topic.NOTIFICATIONS_EVENTS: "reservations",
    Topic.RESERVATIONS_COMMANDS: "reservations",
    Topic.PAYMENTS_EVENTS: "reservations",
    Topic.NOTIFICATIONS_COMMANDS: "notifications",
}

# What a repeated message must not change, per database (ORDER BY keeps it comparable).
STATE = {
    "inventory": [
        "SELECT id, capacity, version, updated_at FROM events ORDER BY id",
        "SELECT id, max_seats, held, sold, version, updated_at FROM ticket_categories ORDER BY id",
        "SELECT reservation_id, status, release_reason, updated_at FROM holds "
        "ORDER BY reservation_id",
    ],
    "reservations": [
        "SELECT id, status, refusal_reason, expires_at, updated_at FROM reservations ORDER BY id",
        "SELECT id, status, email FROM tickets ORDER BY id",
        "SELECT id, status, attempts FROM ticket_emails ORDER BY id",
        "SELECT count(*) FROM audit_entries",
        "SELECT id, version FROM event_replicas ORDER BY id",
        "SELECT id, version FROM category_replicas ORDER BY id",
    ],
    "notifications": [
        "SELECT id, kind, status, attempts FROM email_messages ORDER BY id",
    ],
}
COMMON = ["SELECT count(*) FROM outbox", "SELECT count(*) FROM inbox"]


async def _snapshot(stack: Stack) -> dict[str, Any]:
    snapshot: dict[str, Any] = {}
    for service, queries in STATE.items():
        engine = create_async_engine(stack.database_urls[service])
        try:
            async with engine.connect() as connection:
                for query in [*queries, *COMMON]:
                    rows = (await connection.execute(text(query))).all()
                    snapshot[f"{service}: {query}"] = [tuple(row) for row in rows]
        finally:
            await engine.dispose()
    mail = stack.mail
    assert mail is not None
    snapshot["mails"] = sorted(str(message["Message-ID"]) for message in mail.messages())
    return snapshot


# Work a service still has to do: unpublished outbox rows, emails not delivered yet, and
# deliveries reservations has not heard of (each query counts what is left).
BUSY = {
    "inventory": ["SELECT count(*) FROM outbox WHERE published_at IS NULL"],
    "reservations": [
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        "SELECT count(*) FROM ticket_emails WHERE status <> 'sent'",
    ],
    "notifications": [
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        "SELECT count(*) FROM email_messages WHERE status <> 'sent'",
    ],
}


async def _busy(stack: Stack) -> int:
    left = 0
    for service, queries in BUSY.items():
        engine = create_async_engine(stack.database_urls[service])
        try:
            async with engine.connect() as connection:
                for query in queries:
                    left += (await connection.execute(text(query))).scalar_one()
        finally:
            await engine.dispose()
    return left


class Log:
    """Everything on the run's topics, and how far each consumer group has got.

    End offsets come from the high watermarks of fetches: Tansu answers a ListOffsets
    "latest" with the base offset of the last batch plus one, which undercounts a batch
    of several records.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.groups = {
            f"boxoffice.{service}.{topic}{stack.topic_suffix}": f"{topic}{stack.topic_suffix}"
            for topic, service in CONSUMERS.items()
        }
        self.offsets: dict[str, AIOKafkaConsumer] = {}
        self.tail = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
        self.records: dict[TopicPartition, list[Any]] = {}

    async def __aenter__(self) -> Log:
        for group in self.groups:
            # Never subscribes: only asks for the group's committed offsets.
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.stack.bootstrap, group_id=group, enable_auto_commit=False
            )
            await reader.start()
            self.offsets[group] = reader
        await self.tail.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.bootstrap)
        await admin.start()
        try:
            topics = [name for name in await admin.list_topics() if self.stack.topic_suffix in name]
        finally:
            await admin.close()
        metadata = await self.tail._client.fetch_all_metadata()
        self.records = {
            TopicPartition(topic, partition): []
            for topic in sorted(topics)
            for partition in sorted(metadata.partitions_for_topic(topic) or ())
        }
        self.tail.assign(list(self.records))
        for tp, start in (await self.tail.beginning_offsets(list(self.records))).items():
            assert start == 0, f"{tp} starts at {start}: the broker dropped records"
            self.tail.seek(tp, 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.tail.stop()
        for reader in self.offsets.values():
            await reader.stop()

    async def ends(self) -> dict[TopicPartition, int]:
        """Read on to the end of every partition; the end offsets."""
        asked = time.time() * 1000

        async def at_the_end() -> bool:
            for tp, batch in (await self.tail.getmany(timeout_ms=50)).items():
                self.records[tp] += batch
            for tp in self.records:
                highwater = self.tail.highwater(tp)
                if highwater is None or self.tail.last_poll_timestamp(tp) < asked:
                    return False
                if len(self.records[tp]) < highwater:
                    return False
            return True

        await eventually(at_the_end, within=30, what="every partition read to its end")
        ends = {tp: len(batch) for tp, batch in self.records.items()}
        for tp, batch in self.records.items():
            assert [record.offset for record in batch] == list(range(ends[tp])), tp
        return ends

    async def lagging(self, ends: dict[TopicPartition, int]) -> list[str]:
        """The (group, partition) pairs whose committed offset is short of ``ends``."""
        behind = []
        for group, topic in self.groups.items():
            for tp in [tp for tp in ends if tp.topic == topic]:
                committed = await self.offsets[group].committed(tp) or 0
                if committed < ends[tp]:
                    behind.append(f"{group}[{tp.partition}] at {committed} of {ends[tp]}")
        return behind

    async def settled(self) -> bool:
        """Nothing left to do: no work pending in a database, every message consumed."""
        if await _busy(self.stack):
            return False
        return not await self.lagging(await self.ends())


async def _workload(stack: Stack, client: httpx.AsyncClient) -> dict[str, int]:
    headers = stack.headers()
    reservations = stack.url("reservations")
    starts = datetime.now(UTC) + timedelta(days=10)
    event = await client.post(
        f"{stack.url('inventory')}/v1/events",
        json={
            "slug": "replay",
            "name": "Replay",
            "currency": "EUR",
            "timezone": "Europe/Lisbon",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "capacity": 100,
            "categories": [
                {"name": "Seat", "visibility": "public", "price": "0.00", "max_seats": None},
                {"name": "Box", "visibility": "hidden", "price": "50.00", "max_seats": 2},
            ],
        },
        headers=headers,
    )
    assert event.status_code == 201, event.text
    seat, box = (category["id"] for category in event.json()["categories"])
    create_url = f"{reservations}/v1/events/replay/reservations"

    def body(index: int) -> dict[str, Any]:
        person = {"first_name": f"R{index}", "last_name": "Play", "email": f"r{index}@r.example"}
        return {
            "contact": person,
            "items": [{"category": {"id": seat}, "attendees": [person]}],
        }

    async def created(index: int) -> dict[str, Any] | None:
        response = await client.post(create_url, json=body(index), headers=headers)
        return response.json() if response.status_code == 201 else None

    first = await eventually(lambda: created(0), within=30, what="the event replicated")
    held = [first] + [
        (await client.post(create_url, json=body(index), headers=headers)).json()
        for index in range(1, RESERVATIONS)
    ]
    assert [reservation["status"] for reservation in held] == ["PENDING"] * RESERVATIONS
    too_many = {**body(99), "items": [{"category": {"id": box}, "empty_seats": 500}]}
    refused = await client.post(create_url, json=too_many, headers=headers)
    assert refused.status_code == 409, refused.text

    cancelled = await client.post(
        f"{reservations}/v1/reservations/{held[-1]['id']}/cancel", headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    link = await client.post(
        f"{reservations}/v1/reservations/{held[-2]['id']}/send-link", headers=headers
    )
    assert link.status_code == 200, link.text
    tickets = 0
    for reservation in held[:-2]:
        rid = reservation["id"]
        done = await client.post(f"{reservations}/v1/reservations/{rid}/complete", headers=headers)
        assert done.status_code == 200, done.text
        sent = await client.post(
            f"{reservations}/v1/reservations/{rid}/send-tickets", json={}, headers=headers
        )
        assert sent.status_code == 200, sent.text
        tickets += len(sent.json()["queued"])
    # Another system reserves over Kafka, and a payment system reports the money.
    other = uuid.uuid4()
    await _publish(
        stack,
        Topic.RESERVATIONS_COMMANDS,
        other,
        CreateReservation(
            reservation_id=other,
            event_slug="replay",
            channel=Channel.BACKOFFICE,
            contact=Contact(first_name="Oth", last_name="Er", email="other@r.example"),
            items=[ReservationItem(category_id=uuid.UUID(box), empty_seats=2)],
        ),
    )

    async def status_of(rid: uuid.UUID) -> str:
        response = await client.get(f"{reservations}/v1/reservations/{rid}", headers=headers)
        return str(response.json().get("status"))

    await eventually(
        lambda: _is(status_of(other), "PENDING"), within=30, what="the Kafka reservation held"
    )
    await _publish(
        stack,
        Topic.PAYMENTS_EVENTS,
        other,
        PaymentReceived(
            reservation_id=other,
            payment_id="pay-1",
            amount_minor=10_000,
            currency="EUR",
            received_at=datetime.now(UTC),
            method="card",
        ),
    )
    await eventually(lambda: _is(status_of(other), "COMPLETE"), within=30, what="paid")
    grown = await client.patch(
        f"{stack.url('inventory')}/v1/events/replay", json={"capacity": 120}, headers=headers
    )
    assert grown.status_code == 200, grown.text
    return {"tickets": tickets, "emails": tickets + 1}


def _header(record: Any, name: str) -> str:
    return next((value.decode() for key, value in record.headers if key == name), "?")


def _ce_id(record: Any) -> str:
    return _header(record, "ce_id")


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def _publish(stack: Stack, topic: str, key: uuid.UUID, message: Message) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{topic}{stack.topic_suffix}",
            Envelope.wrap(message, source="replay-test").to_json(),
            key=str(key).encode(),
        )
    finally:
        await producer.stop()


async def test_every_message_published_twice_changes_nothing(system: Stack) -> None:
    mail = system.mail
    assert mail is not None
    async with httpx.AsyncClient(timeout=30) as client:
        expected = await _workload(system, client)
    assert expected["tickets"] == RESERVATIONS - 2
    await eventually(
        lambda: len(mail.messages()) == expected["emails"], within=60, what="every email sent"
    )

    async with Log(system) as log:
        await eventually(log.settled, within=60, what="settled")
        report = await reconcile(
            system.database_urls["inventory"],
            system.database_urls["reservations"],
            {"notifications": system.database_urls["notifications"]},
            settle=10,
        )
        assert report.clean, report.render()
        before = await _snapshot(system)
        assert len(before["mails"]) == expected["emails"]

        ends = await log.ends()
        records = {tp: list(batch) for tp, batch in log.records.items()}
        per_topic = Counter({tp.topic: 0 for tp in records})
        for tp, batch in records.items():
            per_topic[tp.topic] += len(batch)
        assert sum(per_topic.values()) == sum(ends.values())
        # The run went through every consumed topic, and nothing was dead-lettered.
        for topic in CONSUMERS:
            assert per_topic[f"{topic}{system.topic_suffix}"] > 0, topic
            assert per_topic[dlq_topic(f"{topic}{system.topic_suffix}")] == 0, topic
        suffix = system.topic_suffix
        # One command per send-tickets call and one for the link; one from the other system.
        assert per_topic[f"{Topic.NOTIFICATIONS_COMMANDS}{suffix}"] == expected["tickets"] + 1
        assert per_topic[f"{Topic.RESERVATIONS_COMMANDS}{suffix}"] == 1
        assert per_topic[f"{Topic.PAYMENTS_EVENTS}{suffix}"] == 1

        producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
        await producer.start()
        try:
            for tp, batch in records.items():
                for record in batch:
                    await producer.send_and_wait(
                        tp.topic,
                        record.value,
                        key=record.key,
                        headers=list(record.headers),
                        partition=tp.partition,
                    )
        finally:
            await producer.stop()
        republished = sum(len(batch) for batch in records.values())
        assert republished == sum(ends.values())
        doubled = {tp: 2 * end for tp, end in ends.items()}

        async def consumed_again() -> bool:
            return not await log.lagging(doubled)

        await eventually(consumed_again, within=60, what="every copy consumed")
        await eventually(log.settled, within=30, what="settled again")
        # No service published anything in answer to a copy (not even to a DLQ): the log
        # holds the run and its copy, nothing else.
        if await log.ends() != doubled:
            known = {_ce_id(record) for batch in records.values() for record in batch}
            new = [
                (tp.topic, _header(record, "ce_type"))
                for tp, batch in log.records.items()
                for record in batch
                if _ce_id(record) not in known
            ]
            raise AssertionError(f"published in answer to the copies: {new}")

    after = await _snapshot(system)
    for key, rows in before.items():
        assert after[key] == rows, f"changed by the copies: {key}"
    assert len(mail.messages()) == expected["emails"]
    report = await reconcile(
        system.database_urls["inventory"],
        system.database_urls["reservations"],
        {"notifications": system.database_urls["notifications"]},
        settle=10,
    )
    assert report.clean, report.render()
    print(f"republished {republished} records of {len(per_topic)} topics: {dict(per_topic)}")
