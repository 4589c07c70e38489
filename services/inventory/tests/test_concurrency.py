"""Two inventory processes, one PostgreSQL database, the real broker: never oversold."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.contracts import parse_envelope
from boxoffice.contracts.common import Channel
from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import HoldSeats, SeatsHeld, SeatsRefused
from boxoffice.contracts.topics import Topic
from boxoffice.devstack.broker import free_port
from services.inventory.tests.support import (
    JWT_SECRET,
    assert_invariant,
    auth,
    command,
    event_body,
    existing,
)

pytestmark = pytest.mark.timeout(240)

EVENTS = 3
SEATS = 20
HOLDS_PER_EVENT = 60
SAME_ID_DUPLICATES = 20
NEW_ID_RESENDS = 6


@contextmanager
def inventory_processes(
    count: int, env: dict[str, str], logs: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    """Start ``count`` ``python -m boxoffice.inventory`` processes; stop them after."""
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for index in range(count):
            port = free_port()
            with (logs / f"inventory-{index}.log").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "boxoffice.inventory"],
                    env={**env, "BOXOFFICE_INVENTORY_HTTP_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            started.append((process, port))
        yield started
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_ready(port: int, process: subprocess.Popen[bytes], logs: Path) -> None:
    """Poll ``/health/ready`` until 200, with a deadline."""
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "\n".join(
                path.read_text()[-3000:] for path in logs.glob("*.log")
            )
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"instance on port {port} not ready in time")


async def wait_group_members(bootstrap: str, group: str, count: int) -> None:
    """Poll the broker until ``group`` is stable with ``count`` members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, members = response.groups[0][:6]
            if state == "Stable" and len(members) == count:
                return
            assert time.monotonic() < deadline, f"group {group}: {state}, {len(members)} members"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


@asynccontextmanager
async def outcomes_consumer(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"inventory-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=600,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def test_two_instances_hold_each_seat_once(
    kafka_bootstrap: str, postgres_url: str, topic_suffix: str, tmp_path: Path
) -> None:
    suffix = f"{topic_suffix}-c{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "BOXOFFICE_INVENTORY_ENVIRONMENT": "test",
        "BOXOFFICE_INVENTORY_JWT_SECRET": JWT_SECRET,
        "BOXOFFICE_INVENTORY_DATABASE_URL": postgres_url,
        "BOXOFFICE_INVENTORY_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "BOXOFFICE_INVENTORY_KAFKA_TOPIC_SUFFIX": suffix,
        "BOXOFFICE_INVENTORY_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "BOXOFFICE_INVENTORY_KAFKA_HEARTBEAT_INTERVAL_MS": "600",
        "BOXOFFICE_INVENTORY_KAFKA_FETCH_MAX_WAIT_MS": "20",
        "BOXOFFICE_INVENTORY_LOG_JSON": "false",
        "BOXOFFICE_INVENTORY_LOG_LEVEL": "WARNING",
    }
    with inventory_processes(2, env, tmp_path) as instances:
        await asyncio.gather(*(wait_ready(port, process, tmp_path) for process, port in instances))
        # Both consumers share the command partitions before the race starts.
        group = f"boxoffice.inventory.{Topic.INVENTORY_COMMANDS}{suffix}"
        await wait_group_members(kafka_bootstrap, group, 2)
        categories = await _create_events(instances[0][1])
        event_ids = list(categories)
        commands, reservations = _hold_commands(categories)

        async with outcomes_consumer(
            kafka_bootstrap, f"{Topic.INVENTORY_EVENTS}{suffix}"
        ) as consumer:
            await _publish(kafka_bootstrap, f"{Topic.INVENTORY_COMMANDS}{suffix}", commands)
            answers = await _collect_outcomes(consumer, reservations, commands)

        engine = create_engine(postgres_url)
        try:
            await assert_invariant(create_session_factory(engine))
        finally:
            await engine.dispose()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{instances[1][1]}") as client:
            for index in range(EVENTS):
                shown = (await client.get(f"/v1/events/race-{index}", headers=auth())).json()
                assert (shown["seats"]["held"], shown["seats"]["available"]) == (SEATS, 0)

    for event_id in event_ids:
        mine = {r for r, e in reservations.items() if e == event_id}
        held = {r for r in mine if isinstance(answers[r][0], SeatsHeld)}
        refused = {r for r in mine if isinstance(answers[r][0], SeatsRefused)}
        assert len(held) == SEATS
        assert refused == mine - held
    for reservation, outcomes in answers.items():
        # A repeated hold is answered with the very same outcome.
        assert all(outcome == outcomes[0] for outcome in outcomes), reservation


async def _create_events(port: int) -> dict[uuid.UUID, uuid.UUID]:
    """Create the events over HTTP; returns their one category's id by event id."""
    ids = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for index in range(EVENTS):
            body = event_body(
                slug=f"race-{index}",
                capacity=SEATS,
                categories=[
                    {"name": "Ticket", "visibility": "public", "price": "10", "max_seats": None}
                ],
            )
            response = await client.post("/v1/events", json=body, headers=auth())
            assert response.status_code == 201, response.text
            created = response.json()
            ids[uuid.UUID(created["id"])] = uuid.UUID(created["categories"][0]["id"])
    return ids


def _hold_commands(
    categories: dict[uuid.UUID, uuid.UUID],
) -> tuple[list[Envelope[Message]], dict[uuid.UUID, uuid.UUID]]:
    """60 one-seat holds per event, plus duplicates of both kinds, shuffled."""
    rng = random.Random(20)
    originals: list[Envelope[Message]] = []
    reservations: dict[uuid.UUID, uuid.UUID] = {}
    for event_id, category_id in categories.items():
        for _ in range(HOLDS_PER_EVENT):
            reservation_id = uuid.uuid4()
            reservations[reservation_id] = event_id
            originals.append(
                command(
                    HoldSeats(
                        event_id=event_id,
                        reservation_id=reservation_id,
                        channel=Channel.PUBLIC,
                        lines=[existing(category_id, 1)],
                    ),
                    correlationid=str(reservation_id),
                )
            )
    same_id = rng.sample(originals, SAME_ID_DUPLICATES)
    new_id = [
        command(envelope.data, correlationid=envelope.correlationid)
        for envelope in rng.sample(originals, NEW_ID_RESENDS)
    ]
    commands = originals + same_id + new_id
    rng.shuffle(commands)
    return commands, reservations


async def _publish(bootstrap: str, topic: str, commands: list[Envelope[Message]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(
            *(
                producer.send_and_wait(
                    topic, envelope.to_json(), key=envelope.partition_key().encode()
                )
                for envelope in commands
            )
        )
    finally:
        await producer.stop()


async def _collect_outcomes(
    consumer: AIOKafkaConsumer,
    reservations: dict[uuid.UUID, uuid.UUID],
    commands: list[Envelope[Message]],
) -> dict[uuid.UUID, list[Any]]:
    """Read hold outcomes until every hold, and every re-sent one, is answered."""
    expected: dict[uuid.UUID, int] = defaultdict(int)
    for envelope in {envelope.id: envelope for envelope in commands}.values():
        assert isinstance(envelope.data, HoldSeats)
        expected[envelope.data.reservation_id] += 1
    answers: dict[uuid.UUID, list[Any]] = defaultdict(list)
    deadline = time.monotonic() + 120
    while any(len(answers[r]) < n for r, n in expected.items()):
        assert time.monotonic() < deadline, (
            f"{sum(1 for r in reservations if not answers[r])} holds unanswered"
        )
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                envelope = parse_envelope(Topic.INVENTORY_EVENTS, record.value)
                if isinstance(envelope.data, SeatsHeld | SeatsRefused):
                    answers[envelope.data.reservation_id].append(envelope.data)
    assert set(answers) == set(reservations)
    return answers
