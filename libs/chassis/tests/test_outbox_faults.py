"""Outbox + relay + inbox under faults, against the real broker, on SQLite and PostgreSQL.

1,000 committed rows over 10 keys (plus rolled-back ones that must never appear) are
written by concurrent transactions while two relay processes run; the leader is
killed with SIGKILL in the middle of a batch. Every committed message must arrive,
in order per key, and the re-published copies must be dropped by the inbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import func, select

from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.messaging import Consumer, create_broker, ensure_topics
from boxoffice.chassis.outbox import Outbox
from boxoffice.contracts import Envelope, Message, Topic
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import create_schema, eventually, make_settings

KEYS = 10
COMMITTED_PER_KEY = 100
ROLLED_BACK_PER_KEY = 10
WORKER = Path(__file__).with_name("relay_worker.py")


class Rollback(Exception):
    """Raised inside a writer transaction to roll it back on purpose."""


async def _start_relay(
    database_url: str, bootstrap: str, *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        "--database-url",
        database_url,
        "--bootstrap",
        bootstrap,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def _read_until(process: asyncio.subprocess.Process, prefix: str, within: float) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(within):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"relay worker exited before printing {prefix!r}")
            if line.startswith(prefix):
                return line


async def test_outbox_delivers_everything_in_order_across_a_relay_crash(
    database_url: str, kafka_bootstrap: str, topic_suffix: str
) -> None:
    suffix = f"{topic_suffix}-{uuid.uuid4().hex[:6]}"
    settings = make_settings(database_url, kafka_bootstrap, suffix)
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    outbox = Outbox(tables, topic_name=settings.topic)
    await ensure_topics(settings, [settings.topic(Topic.INVENTORY_EVENTS)])

    first_deliveries: dict[str, list[int]] = defaultdict(list)
    received_ids: set[str] = set()

    async def record(envelope: Envelope[Message], _session: object) -> None:
        assert isinstance(envelope.data, SeatsReleased)
        key, sequence = envelope.data.reason.split(":")
        first_deliveries[key].append(int(sequence))
        received_ids.add(str(envelope.id))

    broker = create_broker(settings)
    consumer = Consumer(broker, settings, sessions, Inbox(tables))
    consumer.subscribe(Topic.INVENTORY_EVENTS, record, group="outbox-fault-test")
    await broker.start()

    leader = await _start_relay(database_url, kafka_bootstrap, "--stall-after", "300")
    standby: asyncio.subprocess.Process | None = None
    try:
        await _read_until(leader, "LEADER", within=30)
        standby = await _start_relay(database_url, kafka_bootstrap)

        keys = [uuid.uuid4() for _ in range(KEYS)]
        committed: set[str] = set()
        rolled_back: set[str] = set()

        async def write_key(key_index: int) -> None:
            event_id = keys[key_index]
            sequence = 0
            for attempt in range(COMMITTED_PER_KEY + ROLLED_BACK_PER_KEY):
                roll_back = attempt % 11 == 5
                envelope = Envelope.wrap(
                    SeatsReleased(
                        event_id=event_id,
                        reservation_id=uuid.uuid4(),
                        reason=f"{key_index}:{sequence}",
                    ),
                    source="chassis-test",
                )
                try:
                    async with sessions.begin() as session:
                        await outbox.add(session, envelope)
                        if roll_back:
                            raise Rollback
                except Rollback:
                    rolled_back.add(str(envelope.id))
                    continue
                committed.add(str(envelope.id))
                sequence += 1

        writers = asyncio.gather(*(write_key(index) for index in range(KEYS)))
        await _read_until(leader, "STALLED", within=60)
        leader.send_signal(signal.SIGKILL)
        await leader.wait()
        await writers

        assert len(committed) == KEYS * COMMITTED_PER_KEY
        assert len(rolled_back) == KEYS * ROLLED_BACK_PER_KEY
        # ``handled`` counts committed handler transactions (the ids are recorded
        # inside them, just before their commit).
        await eventually(
            lambda: consumer.stats.handled >= len(committed),
            within=90,
            what="every committed message consumed",
        )
        assert received_ids == committed
        assert not received_ids & rolled_back
        for key_index in range(KEYS):
            assert first_deliveries[str(key_index)] == list(range(COMMITTED_PER_KEY))
        # The leader died after sending part of a batch it never marked: the standby
        # sent those again, with the same ids, and the inbox dropped them.
        assert consumer.stats.duplicates >= 1
        assert consumer.stats.handled == len(committed)

        async def all_marked_published() -> bool:
            async with sessions() as session:
                unpublished = await session.scalar(
                    select(func.count()).where(tables.outbox.c.published_at.is_(None))
                )
            return unpublished == 0

        await eventually(all_marked_published, within=10, what="every row marked published")
    finally:
        for process in (leader, standby):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        await broker.stop()
        await engine.dispose()
