"""Transactional outbox: messages are written with the state change, then relayed.

Nothing is published from inside a business transaction. ``Outbox.add`` inserts a row
in the caller's transaction; ``OutboxRelay`` publishes committed rows in id order with
their partition key and marks them sent. Several relays may run (one per replica):
a lease row elects one publisher at a time, so per-key order holds. A relay killed
between publishing and marking leaves rows that the next leader publishes again:
the copies carry the same message id and consumers' inboxes drop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.db import after_commit, at_commit, insert_or_ignore
from boxoffice.chassis.tables import MessagingTables
from boxoffice.chassis.tracing import trace_headers
from boxoffice.contracts import Envelope, Message

logger = logging.getLogger(__name__)

RELAY_LEASE_NAME = "outbox-relay"
RELAY_WAKE_CHANNEL = "boxoffice_outbox"


@dataclass(frozen=True)
class OutgoingMessage:
    """One committed outbox row, ready to publish."""

    row_id: int
    message_id: str
    topic: str
    partition_key: str
    payload: bytes
    headers: dict[str, str]


PublishFn = Callable[[OutgoingMessage], Awaitable["asyncio.Future[Any] | None"]]
"""Starts sending one message and returns its delivery future (None when already sent)."""


class Outbox:
    """Writes messages into the caller's transaction."""

    def __init__(
        self,
        tables: MessagingTables,
        *,
        topic_name: Callable[[str], str],
        on_commit: Callable[[], None] = lambda: None,
        wake_channel: str | None = None,
        leads_locally: Callable[[], bool] = lambda: False,
    ) -> None:
        """Write into ``tables.outbox``.

        Args:
            tables: the service's messaging tables.
            topic_name: maps a contract topic to the broker topic.
            on_commit: wakes this process's relay after a commit.
            wake_channel: the PostgreSQL channel the leading relay listens on; a
                transaction notifies it when ``leads_locally()`` says the leader is
                another process (a replica), so that relay publishes at once instead
                of at its next fallback poll.
            leads_locally: whether this process's relay holds the publishing lease.
        """
        self._table = tables.outbox
        self._insert = insert(tables.outbox)
        self._wake = select(func.pg_notify(wake_channel, "")) if wake_channel is not None else None
        self._topic_name = topic_name
        self._on_commit = on_commit
        self._leads_locally = leads_locally

    async def add(self, session: AsyncSession, *envelopes: Envelope[Message]) -> None:
        """Queue messages; they are published only if the transaction commits.

        The rows are written once per transaction, at its commit, in the order they
        were added: a batch of N consumed messages costs one INSERT, not N.
        """
        self.queue(session, *envelopes)

    def queue(
        self, session: AsyncSession | Session, *envelopes: Envelope[Message], first: bool = False
    ) -> None:
        """:meth:`add` for code that itself runs inside the commit (an ``at_commit`` write).

        With ``first`` the messages go before those already queued in the transaction
        (from a write with a lower ``order`` than the outbox's, which is 0).
        """
        if not envelopes:
            return
        now = utcnow()
        trace = trace_headers()
        rows = at_commit(session, "boxoffice_outbox", self._write, list)
        queued = [
            {
                "message_id": str(envelope.id),
                "topic": self._topic_name(envelope.data.topic),
                "partition_key": envelope.partition_key(),
                "message_type": envelope.type,
                "payload": envelope.to_json(),
                "headers": message_headers(envelope) | trace,
                "created_at": now,
            }
            for envelope in envelopes
        ]
        position = 0 if first else len(rows)
        rows[position:position] = queued

    def _write(self, session: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        session.execute(self._insert, rows)
        if (
            self._wake is not None
            and not self._leads_locally()
            and session.get_bind().dialect.name == "postgresql"
        ):
            session.execute(self._wake)
        after_commit(session, self._on_commit)


def message_headers(envelope: Envelope[Message]) -> dict[str, str]:
    """Kafka headers mirroring the CloudEvents attributes (for routing without parsing)."""
    headers = {
        "ce_specversion": envelope.specversion,
        "ce_id": str(envelope.id),
        "ce_type": envelope.type,
        "ce_source": envelope.source,
        "content-type": "application/cloudevents+json",
    }
    if envelope.correlationid:
        headers["correlation_id"] = envelope.correlationid
    return headers


class OutboxRelay:
    """Publishes committed outbox rows in order, one leader at a time."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        publish: PublishFn,
        *,
        poll_interval: float = 0.25,
        batch_size: int = 500,
        lease_seconds: float = 5.0,
        retention: timedelta = timedelta(hours=24),
        holder: str | None = None,
    ) -> None:
        self._sessions = session_factory
        self._tables = tables
        self._publish = publish
        engine: AsyncEngine = session_factory.kw["bind"]
        # Reading the unpublished rows and marking them sent are single statements:
        # on PostgreSQL they run without a transaction around them (one round trip
        # each instead of three). SQLite keeps its short BEGIN IMMEDIATE transactions.
        self._statements = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        outbox = tables.outbox
        self._unpublished = (
            select(
                outbox.c.id,
                outbox.c.message_id,
                outbox.c.topic,
                outbox.c.partition_key,
                outbox.c.payload,
                outbox.c.headers,
            )
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(batch_size)
        )
        self._mark_published = (
            update(outbox)
            .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
            .values(published_at=bindparam("now"))
        )
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._retention = retention
        self.holder = holder or f"relay-{uuid.uuid4()}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lease_until = utcnow() - self._lease
        self._task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()
        self._last_cleanup = utcnow()
        self.published_count = 0

    def wake(self) -> None:
        """Ask the relay to look for new rows now (called after a local commit)."""
        self._wake.set()

    @property
    def is_leader(self) -> bool:
        """Whether this relay currently holds the publishing lease."""
        return self._lease_until > utcnow()

    async def wait_until_leader(self) -> None:
        """Wait until this relay has taken the publishing lease."""
        await self._leading.wait()

    def start(self) -> None:
        """Run the relay loop in the background."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"outbox-relay:{self.holder}")

    async def stop(self) -> None:
        """Stop the loop and hand the lease over at once."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._release_lease()

    async def run(self) -> None:
        """Publish until stopped; errors are logged and retried, never fatal."""
        failures = 0
        while not self._stopping.is_set():
            try:
                full_batch = False
                if await self._hold_lease():
                    published = await self.publish_batch()
                    full_batch = published >= self._batch_size
                    await self._cleanup_published()
                failures = 0
                if full_batch:
                    continue
                await self._idle(self._poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                logger.exception("outbox relay cycle failed", extra={"failures": failures})
                await self._idle(min(5.0, 0.1 * 2 ** min(failures, 6)))

    async def _idle(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
        # that races with the wake-up and hang shutdown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows and mark them sent; returns how many."""
        async with self._statements.begin() as connection:
            rows = (await connection.execute(self._unpublished)).all()
        if not rows:
            return 0
        messages = [
            OutgoingMessage(
                row_id=row.id,
                message_id=row.message_id,
                topic=row.topic,
                partition_key=row.partition_key,
                payload=row.payload,
                headers=dict(row.headers),
            )
            for row in rows
        ]
        await self._send_all(messages)
        async with self._statements.begin() as connection:
            await connection.execute(
                self._mark_published,
                {"ids": [message.row_id for message in messages], "now": utcnow()},
            )
        self.published_count += len(messages)
        return len(messages)

    async def _send_all(self, messages: Sequence[OutgoingMessage]) -> None:
        # Start every send before awaiting any: the producer batches them and keeps
        # per-partition order, so one round trip covers the whole batch.
        pending = []
        for message in messages:
            future = await self._publish(message)
            if future is not None:
                pending.append(future)
        if pending:
            await asyncio.gather(*pending)

    async def _hold_lease(self) -> bool:
        now = utcnow()
        if self._lease_until - now > self._lease / 2:
            return True
        lease = self._tables.relay_lease
        expires_at = now + self._lease
        async with self._sessions.begin() as session:
            renewed = await session.execute(
                update(lease)
                .where(lease.c.name == RELAY_LEASE_NAME)
                .where((lease.c.holder == self.holder) | (lease.c.expires_at < now))
                .values(holder=self.holder, expires_at=expires_at)
            )
            if renewed.rowcount == 0:  # type: ignore[attr-defined]
                exists = await session.scalar(
                    select(lease.c.name).where(lease.c.name == RELAY_LEASE_NAME)
                )
                if exists is not None:
                    self._leading.clear()
                    return False
                created = await session.execute(
                    insert_or_ignore(
                        session,
                        lease,
                        {"name": RELAY_LEASE_NAME, "holder": self.holder, "expires_at": expires_at},
                    )
                )
                if created.rowcount == 0:  # type: ignore[attr-defined]
                    return False
        took_over = self._lease_until <= now
        self._lease_until = expires_at
        if took_over:
            logger.info("outbox relay took the lease", extra={"holder": self.holder})
            self._leading.set()
        return True

    async def _release_lease(self) -> None:
        if not self.is_leader:
            return
        lease = self._tables.relay_lease
        async with self._sessions.begin() as session:
            await session.execute(
                update(lease)
                .where(lease.c.name == RELAY_LEASE_NAME)
                .where(lease.c.holder == self.holder)
                .values(expires_at=utcnow() - self._lease)
            )
        self._lease_until = utcnow() - self._lease

    async def _cleanup_published(self) -> None:
        now = utcnow()
        if now - self._last_cleanup < timedelta(minutes=1):
            return
        self._last_cleanup = now
        outbox = self._tables.outbox
        async with self._sessions.begin() as session:
            await session.execute(
                delete(outbox).where(outbox.c.published_at < now - self._retention)
            )
