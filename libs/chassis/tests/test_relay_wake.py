"""A replica's commit wakes the relay that leads in another process (PostgreSQL NOTIFY).

The relays poll only as a fallback (every 250 ms by default; an hour here), so what
publishes a row at once is either this process's commit or, when another replica holds
the lease, the notification the writing transaction sends to the leader.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.chassis import pg_notify
from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.outbox import RELAY_WAKE_CHANNEL, Outbox, OutboxRelay, OutgoingMessage
from boxoffice.contracts import Envelope
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import create_schema, eventually

PROBE = "probe"


def _envelope() -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason="test"),
        source="chassis-test",
    )


@asynccontextmanager
async def listening(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], received: list[str]
) -> AsyncIterator[None]:
    """Run a listener on the relay channel until it has heard a probe (it is connected)."""
    task = asyncio.create_task(pg_notify.listener(engine, RELAY_WAKE_CHANNEL, received.append)())

    async def probe_heard() -> bool:
        async with sessions.begin() as session:
            await pg_notify.notify(session, RELAY_WAKE_CHANNEL, PROBE)
        return PROBE in received

    try:
        await eventually(probe_heard, within=10, interval=0.1, what="the listener connected")
        yield
    finally:
        task.cancel()


async def test_a_replicas_commit_wakes_the_leading_relay(postgres_url: str) -> None:
    # Two "processes" on one database: separate engines, nothing shared but the database.
    leader_engine, replica_engine = create_engine(postgres_url), create_engine(postgres_url)
    tables = await create_schema(leader_engine)
    leader_sessions = create_session_factory(leader_engine)
    replica_sessions = create_session_factory(replica_engine)
    published: list[OutgoingMessage] = []

    async def publish(message: OutgoingMessage) -> None:
        published.append(message)

    leader = OutboxRelay(leader_sessions, tables, publish, poll_interval=3600, lease_seconds=30)
    standby = OutboxRelay(replica_sessions, tables, publish, poll_interval=3600, lease_seconds=30)
    replica_outbox = Outbox(
        tables,
        topic_name=lambda name: name,
        on_commit=standby.wake,
        wake_channel=RELAY_WAKE_CHANNEL,
        leads_locally=lambda: standby.is_leader,
    )
    heard: list[str] = []
    leader.start()
    try:
        await leader.wait_until_leader()
        standby.start()
        async with listening(leader_engine, leader_sessions, heard):
            # From now on every notification wakes the leader, as the runtime wires it.
            task = asyncio.create_task(
                pg_notify.listener(leader_engine, RELAY_WAKE_CHANNEL, lambda _: leader.wake())()
            )
            async with listening(leader_engine, leader_sessions, []):
                pass  # a second listener on the same channel: wait until it is connected
            heard.clear()
            for _ in range(3):
                async with replica_sessions.begin() as session:
                    await replica_outbox.add(session, _envelope())
            # Only a notification can wake the leader: it polls hourly, the standby
            # cannot take a 30 s lease, and the replica's own wake-up reaches the standby.
            await eventually(lambda: len(published) == 3, within=10, what="woken by NOTIFY")
            await eventually(
                lambda: [payload for payload in heard if payload != PROBE] == ["", "", ""],
                within=10,
                what="three notifications (late probes aside)",
            )
            assert not standby.is_leader
            task.cancel()
    finally:
        await standby.stop()
        await leader.stop()
        await leader_engine.dispose()
        await replica_engine.dispose()


async def test_the_leaders_own_commits_send_no_notification(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    heard: list[str] = []
    outbox = Outbox(
        tables,
        topic_name=lambda name: name,
        wake_channel=RELAY_WAKE_CHANNEL,
        leads_locally=lambda: True,
    )
    async with listening(engine, sessions, heard):
        heard.clear()
        async with sessions.begin() as session:
            await outbox.add(session, _envelope())
        async with sessions.begin() as session:
            await pg_notify.notify(session, RELAY_WAKE_CHANNEL, "after")
        # Notifications arrive in commit order: nothing came before the marker.
        await eventually(
            lambda: [payload for payload in heard if payload != PROBE] == ["after"],
            within=10,
            what="only the marker (late probes aside)",
        )
    await engine.dispose()
