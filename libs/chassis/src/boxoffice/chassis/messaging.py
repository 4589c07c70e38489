"""Broker factory, topic creation and the consumer failure policy (retries, DLQ)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.logs import correlation_scope, redact
from boxoffice.chassis.outbox import OutgoingMessage
from boxoffice.chassis.settings import ServiceSettings
from boxoffice.chassis.tracing import Tracing
from boxoffice.contracts import Envelope, Message, UnknownMessageType, dlq_topic, parse_envelope

logger = logging.getLogger(__name__)

Handler = Callable[[Envelope[Message], AsyncSession], Awaitable[None]]
"""Applies one message inside the consumer's transaction (outbox writes included)."""

Prepare = Callable[[Sequence[Envelope[Message]], AsyncSession], Awaitable[None]]
"""Readies a batch's transaction before its handlers run (e.g. loads and locks, in one
query, every row the batch's messages will touch)."""

DLQ_HEADER_PREFIX = "x-dlq-"


class ServiceBroker(KafkaBroker):
    """A faststream Kafka broker whose subscribers join their groups concurrently.

    ``AIOKafkaConsumer.start`` waits for the group assignment, which costs at least the
    broker's initial rebalance delay (3 s on Kafka and Tansu); faststream starts
    subscribers one after the other, so a service with four topics would wait four
    times at every start.
    """

    async def start(self) -> None:
        """Connect, start all subscribers at once, then the publishers."""
        await self.connect()
        await asyncio.gather(*(subscriber.start() for subscriber in self.subscribers))
        for publisher in self.publishers:
            await publisher.start()
        self.running = True


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    """A faststream Kafka broker with the project's producer defaults."""
    return ServiceBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=0,
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        log_level=logging.DEBUG,
        graceful_timeout=15.0,
    )


async def ensure_topics(
    settings: ServiceSettings, topics: Iterable[str], *, give_up_after: float = 60.0
) -> None:
    """Create topics with the configured partition count; existing ones are kept.

    Retries while the broker is still starting, so services may start before it.
    """
    wanted = sorted(set(topics))
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(give_up_after),
        wait=wait_exponential(multiplier=0.1, max=2),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                client_id=f"{settings.service_name}-admin",
            )
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [name for name in wanted if name not in existing]
                if missing:
                    try:
                        await admin.create_topics(
                            [
                                NewTopic(
                                    name,
                                    num_partitions=settings.kafka_partitions,
                                    replication_factor=settings.kafka_replication_factor,
                                )
                                for name in missing
                            ]
                        )
                    except TopicAlreadyExistsError:
                        pass  # another replica created it first
                    logger.info("topics created", extra={"topics": missing})
            finally:
                await admin.close()


def relay_publisher(broker: KafkaBroker) -> Callable[[OutgoingMessage], Awaitable[Any]]:
    """The outbox relay's publish function: keyed, with headers, not awaited."""

    async def publish(message: OutgoingMessage) -> Any:
        return await broker.publish(
            message.payload,
            message.topic,
            key=message.partition_key.encode(),
            headers=message.headers,
            correlation_id=message.headers.get("correlation_id", message.message_id),
            no_confirm=True,
        )

    return publish


def consumer_group(settings: ServiceSettings, group: str, contract_topic: str) -> str:
    """The Kafka consumer group of one service's subscription to one topic.

    Named after the broker topic (suffix included), so systems sharing a broker under
    different topic suffixes (test sessions) never share a group either.
    """
    return f"{settings.kafka_consumer_group_prefix}.{group}.{settings.topic(contract_topic)}"


class InfrastructureError(Exception):
    """The database is unreachable: the message is redelivered later, not dead-lettered."""


def _is_infrastructure_error(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, ConnectionError | OSError | TimeoutError)


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return message.body


@dataclass
class ConsumerStats:
    """Counters a consumer keeps (exposed as metrics, asserted in tests)."""

    handled: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letters: dict[tuple[str, str], int] = field(default_factory=dict)
    """Dead-lettered messages by (original topic, reason)."""


@dataclass(frozen=True)
class Delivery:
    """One record as fetched from the broker."""

    value: bytes
    key: bytes | None
    headers: dict[str, str]
    partition: int | None
    offset: int | None


def _deliveries(message: KafkaMessage) -> list[Delivery]:
    raw = message.raw_message
    records = list(raw) if isinstance(raw, list | tuple) else [raw]
    deliveries = []
    for record in records:
        headers = {}
        for name, value in getattr(record, "headers", None) or ():
            if isinstance(value, bytes):
                headers[name] = value.decode("utf-8", errors="replace")
            elif isinstance(value, str):
                headers[name] = value
        deliveries.append(
            Delivery(
                value=record.value or b"",
                key=getattr(record, "key", None),
                headers=headers,
                partition=getattr(record, "partition", None),
                offset=getattr(record, "offset", None),
            )
        )
    return deliveries


class Consumer:
    """Subscribes a handler to a topic with the project's delivery rules.

    - messages are fetched in batches (up to ``consumer_batch_size``); each is parsed
      against the topic's contract, and one that does not validate goes to
      ``<topic>.dlq`` at once;
    - a batch is applied in ONE transaction (the inbox claims of all its messages in one
      statement, then each handler), committed before the offsets are; a duplicate id
      is skipped. One
      transaction and one offset commit per batch instead of per message is what lets
      a hot partition (all holds of one event) keep up under load;
    - if the batch transaction fails, its messages are applied one by one, each in its
      own transaction: a failing handler is retried ``consumer_max_attempts`` times,
      then the message goes to the DLQ with the error in headers and the consumer
      moves on;
    - while the database is unreachable nothing is dead-lettered: the offsets are not
      committed and the messages are tried again.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Inbox,
        tracing: Tracing | None = None,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._sessions = session_factory
        self._inbox = inbox
        self.stats = ConsumerStats()
        self._tracing = tracing or Tracing(settings.service_name)

    def subscribe(
        self,
        contract_topic: str,
        handler: Handler,
        *,
        group: str,
        prepare: Prepare | None = None,
    ) -> None:
        """Register ``handler`` for a contract topic.

        ``prepare``, when given, runs once per batch transaction, after the inbox claim,
        with the batch's new messages: it loads what they need in bulk. It also takes
        charge of what the handlers read within the batch: the consumer then neither
        flushes nor expires the session between messages, so rows loaded once serve the
        whole batch and the ORM writes the batch's changes together at commit. A handler
        that reads with queries of its own still sees earlier messages' changes
        (autoflush).

        Each topic gets its own consumer group, ``<prefix>.<group>.<topic>``: one group
        per (service, topic) keeps rebalances independent, so a replica joining or
        leaving re-assigns each topic's partitions once instead of every consumer of the
        service joining one shared group one after the other.
        """
        settings = self._settings
        topic = settings.topic(contract_topic)
        fetch_wait_ms = settings.fetch_max_wait_ms(contract_topic)

        async def on_batch(_bodies: list[bytes], message: KafkaMessage) -> None:
            await self._consume(contract_topic, topic, _deliveries(message), handler, prepare)

        self._broker.subscriber(
            topic,
            group_id=consumer_group(settings, group, contract_topic),
            batch=True,
            max_records=settings.consumer_batch_size,
            batch_timeout_ms=fetch_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=fetch_wait_ms,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
            decoder=_raw_body,
            title=f"{settings.service_name}:{contract_topic}",
        )(on_batch)

    async def _consume(
        self,
        contract_topic: str,
        topic: str,
        deliveries: list[Delivery],
        handler: Handler,
        prepare: Prepare | None = None,
    ) -> None:
        valid: list[tuple[Delivery, Envelope[Message]]] = []
        for delivery in deliveries:
            try:
                valid.append((delivery, parse_envelope(contract_topic, delivery.value)))
            except (ValidationError, UnknownMessageType, ValueError) as error:
                await self._dead_letter(topic, delivery, error, attempts=0, reason="invalid")
        if len(valid) > 1:
            try:
                await self._apply_batch(topic, valid, handler, prepare)
                return
            except Exception as error:
                logger.info(
                    "batch failed; applying its messages one by one",
                    extra={"topic": topic, "size": len(valid), "error": type(error).__name__},
                )
        for delivery, envelope in valid:
            with correlation_scope(envelope.correlationid or str(envelope.id)):
                await self._handle_with_retries(topic, delivery, envelope, handler)

    async def apply_batch(
        self,
        topic: str,
        envelopes: list[Envelope[Message]],
        handler: Handler,
        prepare: Prepare | None = None,
    ) -> None:
        """Apply a fetched batch in one transaction, as :meth:`subscribe`'s consumer does.

        Tests call it to see what a batch does (one inbox statement, coalesced
        writes) without a broker.
        """
        no_delivery = Delivery(value=b"", key=None, headers={}, partition=None, offset=None)
        await self._apply_batch(
            topic, [(no_delivery, envelope) for envelope in envelopes], handler, prepare
        )

    async def _apply_batch(
        self,
        topic: str,
        valid: list[tuple[Delivery, Envelope[Message]]],
        handler: Handler,
        prepare: Prepare | None,
    ) -> None:
        handled = duplicates = 0
        async with self._sessions.begin() as session:
            # The whole batch is claimed in one statement, first, as a lone claim would be.
            fresh = await self._inbox.claim_many(
                session, [envelope for _, envelope in valid], topic
            )
            if prepare is not None:
                claimed = set(fresh)
                await prepare(
                    [envelope for _, envelope in valid if str(envelope.id) in claimed], session
                )
            for delivery, envelope in valid:
                with (
                    correlation_scope(envelope.correlationid or str(envelope.id)),
                    self._tracing.consume_span(topic, envelope, delivery.headers),
                ):
                    if str(envelope.id) not in fresh:
                        duplicates += 1
                        continue
                    fresh.discard(str(envelope.id))  # a second copy in the batch is a duplicate
                    await handler(envelope, session)
                    handled += 1
                if prepare is None:
                    # Each handler sees the database as a transaction of its own would:
                    # what earlier messages wrote, nothing stale from the identity map.
                    await session.flush()
                    session.expire_all()
        self.stats.handled += handled
        self.stats.duplicates += duplicates

    async def _handle_with_retries(
        self,
        topic: str,
        delivery: Delivery,
        envelope: Envelope[Message],
        handler: Handler,
    ) -> None:
        attempts = 0
        backoff = self._settings.consumer_retry_backoff_seconds
        while True:
            attempts += 1
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(InfrastructureError),
                    wait=wait_exponential(multiplier=max(backoff, 0.05), max=5),
                    reraise=True,
                ):
                    with attempt, self._tracing.consume_span(topic, envelope, delivery.headers):
                        await self.apply(topic, envelope, handler)
                return
            except Exception as error:
                logger.warning(
                    "handler failed",
                    extra={
                        "topic": topic,
                        "message_type": envelope.type,
                        "message_id": str(envelope.id),
                        "attempt": attempts,
                        "error": type(error).__name__,
                    },
                )
                if attempts >= self._settings.consumer_max_attempts:
                    await self._dead_letter(
                        topic, delivery, error, attempts=attempts, reason="failed"
                    )
                    return
                await asyncio.sleep(backoff * 2 ** (attempts - 1))

    async def apply(self, topic: str, envelope: Envelope[Message], handler: Handler) -> None:
        """Claim the message in the inbox and run ``handler``, in one transaction.

        This is what every delivery does; tests call it directly to apply a message
        exactly as the consumer would, without a broker.
        """
        try:
            async with self._sessions.begin() as session:
                if not await self._inbox.claim(session, envelope, topic):
                    self.stats.duplicates += 1
                    logger.debug(
                        "duplicate message dropped", extra={"message_id": str(envelope.id)}
                    )
                    return
                await handler(envelope, session)
            self.stats.handled += 1
        except Exception as error:
            if _is_infrastructure_error(error):
                raise InfrastructureError(str(error)) from error
            raise

    async def _dead_letter(
        self,
        topic: str,
        delivery: Delivery,
        error: BaseException,
        *,
        attempts: int,
        reason: str,
    ) -> None:
        headers = dict(delivery.headers)
        headers.update(
            {
                f"{DLQ_HEADER_PREFIX}reason": reason,
                f"{DLQ_HEADER_PREFIX}error-type": type(error).__name__,
                f"{DLQ_HEADER_PREFIX}error": redact(str(error))[:2000],
                f"{DLQ_HEADER_PREFIX}attempts": str(attempts),
                f"{DLQ_HEADER_PREFIX}original-topic": topic,
                f"{DLQ_HEADER_PREFIX}original-partition": str(delivery.partition),
                f"{DLQ_HEADER_PREFIX}original-offset": str(delivery.offset),
                f"{DLQ_HEADER_PREFIX}service": self._settings.service_name,
            }
        )
        await self._broker.publish(
            delivery.value, dlq_topic(topic), key=delivery.key or None, headers=headers
        )
        self.stats.dead_lettered += 1
        counted = (topic, reason)
        self.stats.dead_letters[counted] = self.stats.dead_letters.get(counted, 0) + 1
        logger.error(
            "message dead-lettered",
            extra={"topic": topic, "reason": reason, "error": type(error).__name__},
        )
