"""The whole service through the real broker: a command in, a mail out, an event back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from boxoffice.contracts import EmailSent, Topic, parse_envelope
from boxoffice.devstack.token import mint_token
from boxoffice.notifications.app import Notifications, create_app
from services.notifications.tests.support import (
    JWT_SECRET,
    SmtpRecorder,
    eventually,
    make_settings,
    send_tickets,
)


async def test_send_tickets_from_the_broker_is_mailed_and_reported(
    sqlite_url: str, kafka_bootstrap: str, topic_suffix: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    settings = make_settings(
        sqlite_url,
        port,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_suffix=f"{topic_suffix}-{uuid.uuid4().hex[:6]}",
        kafka_partitions=2,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=600,
        kafka_fetch_max_wait_ms=20,
    )
    app = create_app(settings)
    notifications: Notifications = app.state.notifications
    command = send_tickets(1)
    [ticket] = command.data.tickets

    async with app.router.lifespan_context(app):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                settings.topic(Topic.NOTIFICATIONS_COMMANDS),
                command.to_json(),
                key=command.partition_key().encode(),
            )
        finally:
            await producer.stop()

        await eventually(lambda: recorder.count() == 1, within=60, what="mail received")
        [message] = recorder.messages()
        assert message["Message-ID"] == f"<{ticket.email_id}@boxoffice.localhost>"
        assert notifications.runtime.consumer.stats.handled == 1

        token = mint_token(
            JWT_SECRET, sub="operator", org="acme", roles=["organizer"], ttl=timedelta(minutes=5)
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def logged_as_sent() -> bool:
                response = await client.get(
                    "/v1/messages",
                    params={"reservation_id": str(command.data.reservation_id)},
                    headers={"Authorization": f"Bearer {token}"},
                )
                return [entry["status"] for entry in response.json()] == ["sent"]

            await eventually(logged_as_sent, what="delivery log says sent")

    reader = AIOKafkaConsumer(
        settings.topic(Topic.NOTIFICATIONS_EVENTS),
        bootstrap_servers=kafka_bootstrap,
        group_id=f"notifications-test-reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    try:
        sent: list[EmailSent] = []
        async with asyncio.timeout(60):
            while not sent:
                batch = await reader.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        envelope = parse_envelope(Topic.NOTIFICATIONS_EVENTS, record.value)
                        if isinstance(envelope.data, EmailSent):
                            assert record.key == str(command.data.reservation_id).encode()
                            sent.append(envelope.data)
    finally:
        await reader.stop()
    assert [(event.email_id, event.ticket_id, event.attempts) for event in sent] == [
        (ticket.email_id, ticket.ticket_id, 1)
    ]
