"""Metrics and traces of the real services.

- in-process, with the real broker: one trace spans create → hold (inventory) →
  outcome → PENDING (reservations), and both apps' ``/metrics`` show the flow;
- the same reservation expires: the sweeper's expiry lag and the released seats;
- in-process, with an SMTP sink and without one: the email counters;
- across a process boundary: ``/metrics`` of an inventory process, scraped over HTTP
  after an event is created over HTTP and seats are held through the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.contracts import (
    Channel,
    Contact,
    Envelope,
    EventInfo,
    HoldLine,
    HoldSeats,
    SendReservationLink,
    Topic,
)
from boxoffice.devstack.broker import free_port
from boxoffice.devstack.mailsink import MailSink
from boxoffice.devstack.seed_data import sample_event
from boxoffice.devstack.stack import ServiceProcess, eventually
from boxoffice.devstack.token import mint_token
from boxoffice.inventory.app import create_app as create_inventory
from boxoffice.inventory.settings import Settings as InventorySettings
from boxoffice.notifications.app import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from boxoffice.notifications.app import Notifications
from boxoffice.notifications.app import create_app as create_notifications
from boxoffice.notifications.settings import Settings as NotificationsSettings
from boxoffice.reservations import repository
from boxoffice.reservations.app import create_app as create_reservations
from boxoffice.reservations.settings import Settings as ReservationsSettings

JWT_SECRET = "observability-tests-secret-of-at-least-32-bytes"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text, parsed: value by (sample name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a sample over the labels not given."""
    return sum(
        sample_value
        for (sample_name, sample_labels), sample_value in samples.items()
        if sample_name == name and set(labels.items()) <= set(sample_labels)
    )


async def scrape(client: httpx.AsyncClient, base_url: str = "") -> Samples:
    """GET ``/metrics`` and parse it."""
    response = await client.get(f"{base_url}/metrics")
    assert response.status_code == 200, response.text
    return parse_metrics(response.text)


def _event_body(slug: str) -> dict[str, Any]:
    """The user guide's sample event without its Speakers category."""
    body = sample_event(datetime.now(UTC), slug=slug)
    body["categories"] = [c for c in body["categories"] if c["name"] != "Speakers"]
    return body


def _auth() -> dict[str, str]:
    token = mint_token(
        JWT_SECRET, sub="o@acme", org="acme", roles=["organizer"], ttl=timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {token}"}


def _in_process_settings(database_url: str, suffix: str, group_prefix: str) -> dict[str, Any]:
    return {
        "environment": "test",
        "jwt_secret": JWT_SECRET,
        "database_url": database_url,
        "log_json": False,
        "kafka_topic_suffix": suffix,
        "kafka_consumer_group_prefix": group_prefix,
        "kafka_partitions": 1,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 600,
        "kafka_fetch_max_wait_ms": 20,
        "metrics_cache_seconds": 0.0,
    }


@asynccontextmanager
async def _serving(app: FastAPI, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.state.runtime.lifespan(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60
        ) as client,
    ):
        yield client


async def test_one_trace_spans_create_hold_and_pending_and_metrics_follow(
    kafka_bootstrap: str, topic_suffix: str, tmp_path: Path
) -> None:
    suffix = f"{topic_suffix}-o{uuid.uuid4().hex[:6]}"
    group_prefix = f"boxoffice-{uuid.uuid4().hex[:8]}"
    inventory = create_inventory(
        InventorySettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            **_in_process_settings(
                f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}", suffix, group_prefix
            ),
        )
    )
    reservations = create_reservations(
        ReservationsSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            create_wait_seconds=60.0,
            outcome_poll_seconds=0.05,
            expiry_sweep_interval_seconds=0.2,
            **_in_process_settings(
                f"sqlite+aiosqlite:///{tmp_path / 'reservations.db'}", suffix, group_prefix
            ),
        )
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for app in (inventory, reservations):
        app.state.runtime.tracing.configure(provider)
    slug = f"traced-{uuid.uuid4().hex[:6]}"

    async with AsyncExitStack() as apps:
        # One after the other: migrations run in-process and Alembic's context is global.
        inventory_client = await apps.enter_async_context(_serving(inventory, "http://inventory"))
        reservations_client = await apps.enter_async_context(
            _serving(reservations, "http://reservations")
        )
        created = await inventory_client.post("/v1/events", json=_event_body(slug), headers=_auth())
        assert created.status_code == 201, created.text
        team = next(c for c in created.json()["categories"] if c["name"] == "Team")

        async def replicated() -> bool:
            async with reservations.state.runtime.sessions() as session:
                return await repository.get_category(session, uuid.UUID(team["id"])) is not None

        await eventually(replicated, within=60, what="the event replicated")
        exporter.clear()

        # Expires in a few seconds: the sweeper's expiry lag is measured below.
        expires_at = datetime.now(UTC) + timedelta(seconds=4)
        response = await reservations_client.post(
            f"/v1/events/{slug}/reservations",
            json={
                "contact": {"first_name": "Olivia", "last_name": "O", "email": "o@example.org"},
                "items": [{"category": {"id": team["id"]}, "empty_seats": 2}],
                "expires_at": expires_at.isoformat(),
            },
            headers=_auth(),
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "PENDING"

        def spans() -> list[ReadableSpan]:
            return list(exporter.get_finished_spans())

        def named(name: str, kind: SpanKind) -> list[ReadableSpan]:
            return [span for span in spans() if span.name == name and span.kind is kind]

        await eventually(
            lambda: named(f"inventory.events{suffix} process", SpanKind.CONSUMER) != [],
            within=30,
            what="the outcome's consumer span",
        )
        (request,) = named("POST /v1/events/{slug}/reservations", SpanKind.SERVER)
        trace_id = request.context.trace_id
        in_trace = [span for span in spans() if span.context.trace_id == trace_id]
        (hold,) = [
            span
            for span in in_trace
            if span.name == f"inventory.commands{suffix} process" and span.kind is SpanKind.CONSUMER
        ]
        assert hold.parent is not None
        assert hold.parent.span_id == request.context.span_id  # HoldSeats from the request
        assert hold.attributes is not None
        assert hold.attributes["service.name"] == "inventory"
        assert hold.attributes["cloudevents.event_type"] == "boxoffice.inventory.HoldSeats.v1"
        outcomes = [
            span
            for span in in_trace
            if span.name == f"inventory.events{suffix} process"
            and span.parent is not None
            and span.parent.span_id == hold.context.span_id  # SeatsHeld from the hold
        ]
        # SeatsHeld (and the category's new counts) were written by the hold's handler.
        types = {
            span.attributes["cloudevents.event_type"]: span for span in outcomes if span.attributes
        }
        assert "boxoffice.inventory.SeatsHeld.v1" in types
        held = types["boxoffice.inventory.SeatsHeld.v1"]
        assert held.attributes is not None
        assert held.attributes["service.name"] == "reservations"

        inventory_metrics = await scrape(inventory_client)
        assert value(inventory_metrics, "boxoffice_seats_held", event=slug) == 2
        assert value(inventory_metrics, "boxoffice_seats_sold", event=slug) == 0
        assert value(inventory_metrics, "boxoffice_event_capacity_seats", event=slug) == 200
        assert (
            value(
                inventory_metrics,
                "boxoffice_http_requests_total",
                route="/v1/events",
                method="POST",
                status="201",
            )
            == 1
        )
        assert (
            total(
                inventory_metrics,
                "faststream_received_messages_total",
                handler=f"inventory.commands{suffix}",
            )
            >= 1
        )
        assert (
            total(
                inventory_metrics,
                "faststream_received_processed_messages_duration_seconds_count",
                handler=f"inventory.commands{suffix}",
            )
            >= 1
        )
        reservations_metrics = await scrape(reservations_client)
        lag = (
            "boxoffice_consumer_lag",
            (("partition", "0"), ("topic", f"inventory.events{suffix}")),
        )
        assert reservations_metrics[lag] >= 0
        assert value(reservations_metrics, "boxoffice_reservations", status="PENDING") == 1
        assert value(reservations_metrics, "boxoffice_reservations", status="EXPIRED") == 0
        assert value(reservations_metrics, "boxoffice_consumer_messages_handled_total") >= 3

        async def published() -> bool:
            samples = await scrape(reservations_client)
            return (
                value(samples, "boxoffice_outbox_backlog") == 0
                and value(samples, "boxoffice_outbox_published_total") >= 1
            )

        await eventually(published, within=30, what="the outbox drained")

        async def expired() -> bool:
            samples = await scrape(reservations_client)
            return value(samples, "boxoffice_reservations", status="EXPIRED") == 1

        await eventually(expired, within=30, what="the reservation expired by the sweeper")
        samples = await scrape(reservations_client)
        assert value(samples, "boxoffice_reservations", status="PENDING") == 0
        assert value(samples, "boxoffice_expiry_lag_seconds_count") == 1
        # Swept within a few intervals of its expiry (the interval is 0.2 s).
        assert 0 <= value(samples, "boxoffice_expiry_lag_seconds_sum") < 5

        async def released() -> bool:
            samples = await scrape(inventory_client)
            return value(samples, "boxoffice_seats_held", event=slug) == 0

        await eventually(released, within=30, what="the seats released")


async def test_ticket_emails_are_counted_sent_and_failed(tmp_path: Path) -> None:
    sink = MailSink(port=0, directory=str(tmp_path / "mail")).start()
    try:
        sent = await _dispatch_one_link(tmp_path / "up.db", smtp_port=sink.port)
        refused = await _dispatch_one_link(tmp_path / "down.db", smtp_port=free_port())
    finally:
        sink.stop()

    assert value(sent, "boxoffice_emails_sent_total") == 1
    assert value(sent, "boxoffice_emails", status="sent") == 1
    assert total(sent, "boxoffice_emails_failed_total") == 0
    assert value(refused, "boxoffice_emails_sent_total") == 0
    assert value(refused, "boxoffice_emails_failed_total", kind="temporary") == 1
    assert value(refused, "boxoffice_emails", status="queued") == 1  # tried again later


async def _dispatch_one_link(database: Path, *, smtp_port: int) -> Samples:
    app = create_notifications(
        NotificationsSettings(
            environment="test",
            jwt_secret=JWT_SECRET,
            database_url=f"sqlite+aiosqlite:///{database}",
            log_json=False,
            smtp_port=smtp_port,
            smtp_timeout_seconds=2.0,
            metrics_cache_seconds=0.0,
        )
    )
    notifications: Notifications = app.state.notifications
    runtime = notifications.runtime
    await upgrade_to_head(runtime.engine, NOTIFICATIONS_MIGRATIONS)
    link = Envelope.wrap(
        SendReservationLink(
            reservation_id=uuid.uuid4(),
            email_id=uuid.uuid4(),
            event=EventInfo(
                event_id=uuid.uuid4(),
                slug="summit",
                name="Summit",
                timezone="Europe/Zurich",
                starts_at=datetime(2030, 5, 4, 7, 0, tzinfo=UTC),
                ends_at=datetime(2030, 5, 4, 16, 0, tzinfo=UTC),
                organization="acme",
            ),
            contact=Contact(first_name="Grace", last_name="Hopper", email="grace@example.org"),
            share_url="https://tickets.example.org/r/token",
            expires_at=datetime(2030, 5, 1, 21, 59, tzinfo=UTC),
            total_minor=10000,
            currency="EUR",
        ),
        source="boxoffice.reservations",
    )
    try:
        await runtime.consumer.apply(
            runtime.settings.topic(Topic.NOTIFICATIONS_COMMANDS), link, notifications.handle_command
        )
        assert await notifications.dispatcher.dispatch_due() == 1
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notifications"
        ) as client:
            return await scrape(client)
    finally:
        await runtime.engine.dispose()


async def test_a_service_process_exposes_metrics_over_http(
    kafka_bootstrap: str, topic_suffix: str, tmp_path: Path
) -> None:
    suffix = f"{topic_suffix}-p{uuid.uuid4().hex[:6]}"
    port = free_port()
    settings = {
        "ENVIRONMENT": "test",
        "JWT_SECRET": JWT_SECRET,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_SUFFIX": suffix,
        "KAFKA_PARTITIONS": "1",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "600",
        "KAFKA_FETCH_MAX_WAIT_MS": "20",
        "HTTP_PORT": str(port),
        "METRICS_CACHE_SECONDS": "0",
    }
    inventory = ServiceProcess(
        "inventory",
        port,
        {f"BOXOFFICE_INVENTORY_{key}": text for key, text in settings.items()},
        tmp_path / "inventory.log",
    )
    inventory.start()
    try:
        await inventory.wait_ready()
        await _hold_through_the_broker_and_scrape(inventory.url, kafka_bootstrap, suffix)
    finally:
        inventory.stop()


async def _hold_through_the_broker_and_scrape(url: str, bootstrap: str, suffix: str) -> None:
    slug = f"scraped-{uuid.uuid4().hex[:6]}"
    commands = f"{Topic.INVENTORY_COMMANDS}{suffix}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        created = await client.post("/v1/events", json=_event_body(slug), headers=_auth())
        assert created.status_code == 201, created.text
        event = created.json()
        team = next(c for c in event["categories"] if c["name"] == "Team")
        hold = Envelope.wrap(
            HoldSeats(
                event_id=uuid.UUID(event["id"]),
                reservation_id=uuid.uuid4(),
                channel=Channel.BACKOFFICE,
                lines=[HoldLine(category_id=uuid.UUID(team["id"]), quantity=3)],
            ),
            source="boxoffice.reservations",
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                commands, hold.to_json(), key=hold.partition_key().encode()
            )
        finally:
            await producer.stop()

        async def held() -> bool:
            samples = await scrape(client)
            return value(samples, "boxoffice_seats_held", event=slug) == 3

        await eventually(held, within=30, what="the held seats in /metrics")

        async def published() -> bool:
            samples = await scrape(client)
            # EventUpserted, CategoryUpserted x2, then SeatsHeld and the Team category.
            return (
                value(samples, "boxoffice_outbox_backlog") == 0
                and value(samples, "boxoffice_outbox_published_total") >= 5
            )

        await eventually(published, within=30, what="the outbox drained")
        samples = await scrape(client)
        assert (
            value(
                samples,
                "boxoffice_http_requests_total",
                route="/v1/events",
                method="POST",
                status="201",
            )
            == 1
        )
        assert value(samples, "boxoffice_event_capacity_seats", event=slug) == 200
        assert total(samples, "faststream_received_messages_total", handler=commands) == 1
        assert value(samples, "boxoffice_consumer_messages_handled_total") == 1
        assert value(samples, "boxoffice_inbox_duplicates_total") == 0
        assert total(samples, "boxoffice_dlq_messages_total") == 0
